"""The encoder: the model's own target-layer activations, the head never run, gradients to the input."""

import pytest
import torch
import torchvision

from explainers.nets import SmallCNN
from explainers.pv import Encoder, PVError

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def full_forward_activation(model, layer, x):
    """The target layer's output seen during an ordinary forward pass, for comparison."""
    seen = []
    handle = model.get_submodule(layer).register_forward_hook(lambda m, i, out: seen.append(out.clone()))
    with torch.no_grad():
        model((x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1))
    handle.remove()
    return seen[0]


@pytest.mark.parametrize(
    "make, layer, size, shape",
    [
        (lambda: SmallCNN(width=8), "features.block3", 32, (32, 8, 8)),
        (lambda: torchvision.models.resnet18(weights=None), "layer4", 64, (512, 2, 2)),
    ],
)
def test_output_is_the_target_layer_activation_and_the_head_never_runs(make, layer, size, shape):
    torch.manual_seed(0)
    model = make().eval()
    head = model.classifier if hasattr(model, "classifier") else model.fc
    calls = []
    head.register_forward_hook(lambda *args: calls.append(1))
    x = torch.rand(2, 3, size, size)
    expected = full_forward_activation(model, layer, x)
    calls.clear()

    z = Encoder(model, layer, MEAN, STD)(x)

    assert z.shape == (2, *shape)
    torch.testing.assert_close(z, expected)
    assert calls == []
    assert not model.get_submodule(layer)._forward_hooks  # hook removed


def test_gradient_flows_to_the_input_but_not_the_weights_when_frozen():
    model = SmallCNN(width=8).train()
    encoder = Encoder(model, "features.block3", MEAN, STD)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    with encoder.frozen():
        assert not model.training
        encoder(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_unknown_layer_is_refused():
    with pytest.raises(PVError, match="no layer"):
        Encoder(SmallCNN(), "features.block9", MEAN, STD)
