"""LRP through residual networks: torchvision ResNets against zennit's own attribution with its
ResNetCanonizer, and relevance conservation on ResNets and EfficientNet-Lite0.

The networks are seeded random ones (no weight downloads) whose batch norms have running statistics
other than 0 and 1, so merging them matters. With zero biases (each batch norm's shift chosen so that
its merged bias is 0) every rule conserves relevance: the input's relevance sums to the target logit.
EfficientNet-Lite has no canonizer in zennit, so its independent reference is an identity: on a
network of convolutions, ReLUs and sums without biases, LRP-epsilon (epsilon -> 0) equals gradient x
input (Montavon et al. 2019, sec. 10.2.3).
"""
import copy

import pytest
import torch
import torchvision
from efficientnet_lite_pytorch import EfficientNet
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlus, LayerMapComposite, layer_map_base
from zennit.rules import AlphaBeta, Epsilon, Gamma
from zennit.torchvision import ResNetCanonizer
from zennit.types import Convolution

from explainers.canonizers import canonizers_for
from explainers.errors import ExplainError
from explainers.lrp import RULES, lrp_attributions
from tests.unit.explainers.test_propagation import pearson, pixels

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])[:, None, None]


def with_batch_norm_statistics(model: nn.Module, zero_biases: bool) -> nn.Module:
    """Seeded running statistics and scales in every BatchNorm2d; shifts random, or such that each
    merged conv bias is 0 (and the linear layers' biases 0)."""
    torch.manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            if zero_biases:
                scale = module.weight / (module.running_var + module.eps).sqrt()
                module.bias.data = module.running_mean * scale
            else:
                module.bias.data.normal_(0, 0.1)
        elif isinstance(module, nn.Linear) and zero_biases:
            module.bias.data.zero_()
    return model.eval()


def resnet(arch: str, zero_biases: bool = False) -> nn.Module:
    torch.manual_seed(0)
    return with_batch_norm_statistics(torchvision.models.get_model(arch, weights=None, num_classes=10),
                                      zero_biases)


def imagenet_pixels(photos, size: int) -> torch.Tensor:
    return (pixels(photos, size) - IMAGENET_MEAN) / IMAGENET_STD


def top_class(model: nn.Module, images: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """Each image's top class and its logit (B,), checked positive: zennit's gamma rule treats layers
    with negative outputs by their own contributions."""
    with torch.no_grad():
        logits = model(images).max(dim=1)
    assert float(logits.values.min()) > 0
    return logits.indices.tolist(), logits.values


def zennit_composite(rule: str):
    """zennit's composite of each rule we offer (epsilon 1e-6, gamma 0.25), with its ResNetCanonizer."""
    canonizers = [ResNetCanonizer()]
    if rule == "composite":
        return EpsilonPlus(epsilon=1e-6, canonizers=canonizers)
    layer_rule = {"epsilon": Epsilon(epsilon=1e-6), "gamma": Gamma(gamma=0.25),
                  "alpha1beta0": AlphaBeta(alpha=1.0, beta=0.0)}[rule]
    layer_map = layer_map_base() + [(Convolution, layer_rule), (nn.Linear, layer_rule)]
    return LayerMapComposite(layer_map=layer_map, canonizers=canonizers)


def zennit_lrp(model: nn.Module, images: torch.Tensor, targets: list[int], rule: str) -> torch.Tensor:
    with torch.no_grad():
        logits = model(images)
    index = torch.tensor(targets)[:, None]
    relevance = torch.zeros_like(logits).scatter_(1, index, logits.gather(1, index))
    with Gradient(model=model, composite=zennit_composite(rule)) as attributor:
        return attributor(images, relevance)[1]


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    return resnet("resnet18")


@pytest.mark.parametrize("rule", RULES)
def test_lrp_on_resnet18_matches_zennit_with_its_resnet_canonizer(rule, resnet18, photos):
    images = imagenet_pixels(photos, 64)
    targets, _ = top_class(resnet18, images)
    ours = lrp_attributions(resnet18, images, targets, rule=rule)
    theirs = zennit_lrp(copy.deepcopy(resnet18), images, targets, rule)
    for mine, peers in zip(ours, theirs):
        assert pearson(mine, peers) >= 0.99
    assert all(not m._forward_hooks and not m._backward_hooks for m in resnet18.modules())


@pytest.mark.parametrize("rule", RULES)
def test_lrp_on_a_bias_free_resnet18_conserves_relevance(rule, photos):
    model = resnet("resnet18", zero_biases=True)
    images = imagenet_pixels(photos, 64)
    targets, logits = top_class(model, images)
    relevance = lrp_attributions(model, images, targets, rule=rule).sum(dim=(1, 2, 3))
    torch.testing.assert_close(relevance, logits, rtol=0.01, atol=0.0)


def test_lrp_on_resnet50_matches_zennit_and_conserves_relevance(photos):
    images = imagenet_pixels(photos, 64)
    model = resnet("resnet50")
    targets, _ = top_class(model, images)
    ours = lrp_attributions(model, images, targets, rule="composite")
    theirs = zennit_lrp(copy.deepcopy(model), images, targets, "composite")
    for mine, peers in zip(ours, theirs):
        assert pearson(mine, peers) >= 0.99
    bias_free = resnet("resnet50", zero_biases=True)
    targets, logits = top_class(bias_free, images)
    relevance = lrp_attributions(bias_free, images, targets, rule="epsilon").sum(dim=(1, 2, 3))
    torch.testing.assert_close(relevance, logits, rtol=0.01, atol=0.0)


@pytest.fixture(scope="module")
def bias_free_lite0() -> nn.Module:
    """EfficientNet-Lite0's architecture (9 of its 16 MBConv blocks add a skip connection), seeded He
    initialisation, 10 classes, zero biases."""
    torch.manual_seed(0)
    model = EfficientNet.from_name("efficientnet-lite0", num_classes=10)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return with_batch_norm_statistics(model, zero_biases=True)


def lite0_pixels(photos) -> torch.Tensor:
    return (pixels(photos[:2], 224) - 0.5) / 0.5


@pytest.mark.parametrize("rule", RULES)
def test_lrp_on_a_bias_free_efficientnet_lite0_conserves_relevance(rule, bias_free_lite0, photos):
    images = lite0_pixels(photos)
    targets, logits = top_class(bias_free_lite0, images)
    relevance = lrp_attributions(bias_free_lite0, images, targets, rule=rule).sum(dim=(1, 2, 3))
    torch.testing.assert_close(relevance, logits, rtol=0.01, atol=0.0)


def test_lrp_epsilon_on_a_bias_free_relu_efficientnet_lite0_equals_gradient_x_input(bias_free_lite0, photos):
    model = copy.deepcopy(bias_free_lite0)
    for module in model.modules():  # ReLU6 -> ReLU: the network is then positively homogeneous
        if hasattr(module, "_swish"):
            module._swish = nn.ReLU()
    images = lite0_pixels(photos)
    targets, _ = top_class(model, images)
    ours = lrp_attributions(model, images, targets, rule="epsilon")
    inputs = images.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(inputs)[[0, 1], targets].sum(), inputs)
    for mine, peers in zip(ours, gradient * images):
        assert pearson(mine, peers) >= 0.99


def test_the_lite0_canonizer_keeps_the_logits_and_restores_the_model(lite0, photos):
    model = lite0.module
    images = lite0.preprocess(photos[:2])
    before = {name: value.clone() for name, value in model.state_dict().items()}
    with torch.no_grad():
        logits = model(images)
        canonizers = [instance for canonizer in canonizers_for(model) for instance in canonizer.apply(model)]
        try:
            canonized = model(images)
        finally:
            for instance in reversed(canonizers):
                instance.remove()
        torch.testing.assert_close(canonized, logits, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(model(images), logits)
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
    assert sum(1 for sub in model.modules() if hasattr(sub, "canonizer_sum")) == 0


def test_canonizers_follow_the_architecture(resnet18, small_cnn, lite0):
    kinds = {name: [type(c).__name__ for c in canonizers_for(model)] for name, model in [
        ("resnet", resnet18), ("vgg", torchvision.models.vgg11_bn(weights=None).features),
        ("small_cnn", small_cnn), ("lite0", lite0.module)]}
    assert kinds == {"resnet": ["ResNetCanonizer"], "vgg": ["SequentialMergeBatchNorm"],
                     "small_cnn": ["SequentialMergeBatchNorm"], "lite0": ["EfficientNetLiteCanonizer"]}


def test_lrp_refuses_an_efficientnet_with_squeeze_and_excitation():
    model = EfficientNet.from_name("efficientnet-b0", num_classes=10).eval()
    with pytest.raises(ExplainError, match="squeeze-and-excitation"):
        lrp_attributions(model, torch.zeros(1, 3, 224, 224), [0], rule="epsilon")
