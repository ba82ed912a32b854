"""LRP, DeepLIFT, DeconvNet and Gradient x Input against captum on real photos.

LRP runs through zennit, so its independent peer is captum's LRP with the same rule on every
layer. The networks are torchvision's VGG-11 (seeded random weights, biases 0 as torchvision
initialises them, a small head) for LRP, and a SmallCNN with average pooling for DeepLIFT: captum's DeepLift has
its own max-pooling rule (ours passes the gradient, DeepLIFT's default) and refuses a ReLU module
used twice, as in ResNet blocks. LRP inputs are [0, 1] pixels: with signed inputs captum's
alpha1beta0 ignores the sign of the first layer's inputs while zennit's does not.
"""
import copy

import numpy as np
import pytest
import torch
import torchvision
from captum.attr import LRP, DeepLift, Deconvolution, InputXGradient
from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule, GammaRule
from PIL import Image

from explainers import ExplainError, explain
from explainers.attribution import gradient_attributions
from explainers.lrp import lrp_attributions
from explainers.nets import SmallCNN
from explainers.propagation import deconvnet_attributions, deeplift_attributions

TARGETS = [1, 4, 7]


def pixels(photos, size: int) -> torch.Tensor:
    """Three photos resized to size x size: (3, 3, size, size) float32 in [0, 1]."""
    arrays = [np.asarray(Image.fromarray(p).convert("RGB").resize((size, size))) for p in photos[:3]]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def out_of_place(model: torch.nn.Module) -> torch.nn.Module:
    copied = copy.deepcopy(model)
    for module in copied.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    return copied


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(np.corrcoef(a.detach().numpy().ravel(), b.detach().numpy().ravel())[0, 1])


@pytest.fixture(scope="module")
def vgg():
    """torchvision's VGG-11 features with a small head (global average pooling, 512 -> 256 -> 10), so
    that zennit's and captum's copies of the 100M-parameter head do not dominate the test's time."""
    torch.manual_seed(0)
    model = torchvision.models.vgg11(weights=None, num_classes=10)
    model.avgpool = torch.nn.AdaptiveAvgPool2d(1)
    model.classifier = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.ReLU(inplace=True),
                                           torch.nn.Dropout(), torch.nn.Linear(256, 10))
    for layer in model.classifier:
        if isinstance(layer, torch.nn.Linear):  # as torchvision initialises VGG's head, but 10x larger
            torch.nn.init.normal_(layer.weight, 0, 0.1)
            torch.nn.init.zeros_(layer.bias)
    return model.eval()


@pytest.fixture
def avgpool_cnn() -> SmallCNN:
    """A seeded SmallCNN (in-place ReLUs) with average instead of max pooling, and BN statistics
    other than 0 and 1."""
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, width=8).eval()
    model.features.pool1 = torch.nn.AvgPool2d(2)
    model.features.pool2 = torch.nn.AvgPool2d(2)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    return model


CAPTUM_RULES = {
    "epsilon": (lambda: EpsilonRule(1e-6), lambda: EpsilonRule(1e-6)),
    "gamma": (lambda: GammaRule(0.25), lambda: GammaRule(0.25)),
    "alpha1beta0": (Alpha1_Beta0_Rule, Alpha1_Beta0_Rule),
    "composite": (Alpha1_Beta0_Rule, lambda: EpsilonRule(1e-6)),  # z+ on conv, eps on linear layers
}


@pytest.mark.parametrize("rule", sorted(CAPTUM_RULES))
def test_lrp_matches_captum_per_map(rule, vgg, photos):
    """Each photo explained for its top class: its logit is positive, where zennit's gamma rule and
    captum's agree (zennit treats layers with negative outputs by their own contributions)."""
    images = pixels(photos, 64)
    with torch.no_grad():
        logits = vgg(images).max(dim=1)
    targets = logits.indices.tolist()
    assert float(logits.values.min()) > 0
    peer = out_of_place(vgg)
    conv_rule, linear_rule = CAPTUM_RULES[rule]
    for module in peer.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.rule = conv_rule()
        elif isinstance(module, torch.nn.Linear):
            module.rule = linear_rule()
    ours = lrp_attributions(vgg, images, targets, rule=rule)
    theirs = LRP(peer).attribute(images, target=targets)
    for mine, peers in zip(ours, theirs):
        assert pearson(mine, peers) >= 0.99
    if rule in ("epsilon", "gamma"):  # biases are 0, so these rules conserve relevance: sum = logit
        torch.testing.assert_close(ours.sum(dim=(1, 2, 3)), logits.values, rtol=1e-3, atol=1e-6)
    assert all(not m._forward_hooks and not m._backward_hooks for m in vgg.modules())


def test_lrp_refuses_an_unknown_rule(vgg):
    with pytest.raises(ExplainError, match="LRP rule must be one of"):
        lrp_attributions(vgg, torch.zeros(1, 3, 32, 32), [0], rule="zbox")


def test_deeplift_matches_captum(avgpool_cnn, photos):
    images = (pixels(photos, 32) - 0.5) / 0.25
    baseline = torch.full((1, 3, 32, 32), -2.0)  # the black image under that normalisation
    ours = deeplift_attributions(avgpool_cnn, images, TARGETS, baseline=baseline)
    theirs = DeepLift(out_of_place(avgpool_cnn)).attribute(images, baselines=baseline.expand_as(images),
                                                           target=TARGETS)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))


def test_deeplift_sums_to_the_score_gap_on_efficientnet_lite0(lite0, photos):
    """Summation to delta holds for the rescale rule on any network of elementwise activations and
    linear layers, ReLU6 and residual sums included, which captum's DeepLift does not cover."""
    images = lite0.preprocess(photos[1:3])
    targets = [281, 504]
    black = lite0.black((224, 224))
    ours = deeplift_attributions(lite0.module, images, targets, baseline=black)
    with torch.no_grad():
        gap = lite0.module(images)[[0, 1], targets] - lite0.module(black)[0, targets]
    torch.testing.assert_close(ours.sum(dim=(1, 2, 3)), gap, rtol=1e-3, atol=1e-3)
    maps = explain(lite0, images, targets, "deeplift")  # the black baseline by default
    assert maps.shape == (2, 224, 224) and float(maps.max()) == 1.0


def test_deconvnet_and_gradient_x_input_match_captum(avgpool_cnn, small_cnn, photos):
    images = (pixels(photos, 32) - 0.5) / 0.25
    for model in (avgpool_cnn, small_cnn):  # small_cnn: max pooling and in-place ReLUs
        peer = out_of_place(model)
        torch.testing.assert_close(deconvnet_attributions(model, images, TARGETS),
                                   Deconvolution(peer).attribute(images, target=TARGETS))
        ours = explain(model, images, TARGETS, "gradient_x_input")
        theirs = InputXGradient(peer).attribute(images, target=TARGETS).abs().sum(dim=1)
        for mine, peers in zip(ours, theirs):
            assert pearson(mine, peers) > 0.9999
    assert not torch.allclose(deconvnet_attributions(small_cnn, images, TARGETS),
                              gradient_attributions(small_cnn, images, TARGETS))


def test_explain_on_a_module_without_parameters_uses_the_images_device():
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Unflatten(1, (3, 16)), torch.nn.Flatten(1))
    images = torch.randn(2, 3, 4, 4)
    maps = explain(module, images, [0, 5], "gradient")
    assert maps.shape == (2, 4, 4)
