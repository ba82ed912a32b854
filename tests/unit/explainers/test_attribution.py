"""Pixel attribution against captum and against the methods' definitions."""
import copy

import pytest
import torch
from captum.attr import GuidedBackprop, IntegratedGradients, Saliency

from explainers import ExplainError, explain, load_model
from explainers.attribution import (gradient_attributions, guided_backprop_attributions,
                                    integrated_gradients_attributions, pixel_map, smoothgrad_attributions,
                                    smoothgrad_squared_attributions, vargrad_attributions)

TARGETS = [0, 3, 7]


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))


@pytest.fixture
def not_in_place(small_cnn):
    """The same SmallCNN with out-of-place ReLUs (captum's module hooks need them)."""
    model = copy.deepcopy(small_cnn)
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    return model


def test_gradient_matches_captum_saliency(not_in_place, images):
    ours = gradient_attributions(not_in_place, images, TARGETS)
    theirs = Saliency(not_in_place).attribute(images, target=TARGETS, abs=False)
    torch.testing.assert_close(ours, theirs)


def test_integrated_gradients_completeness_and_captum(small_cnn, not_in_place, images):
    baseline = torch.full((3, 16, 16), -1.0)
    ours = integrated_gradients_attributions(small_cnn, images, TARGETS, baseline=baseline, steps=128,
                                             internal_batch_size=96)
    with torch.no_grad():
        rows = torch.arange(3)
        gap = small_cnn(images)[rows, TARGETS] - small_cnn(baseline.expand_as(images))[rows, TARGETS]
    torch.testing.assert_close(ours.sum(dim=(1, 2, 3)), gap, rtol=0.02, atol=0.02)
    theirs = IntegratedGradients(not_in_place).attribute(
        images, baselines=baseline.expand_as(images), target=TARGETS, n_steps=128, method="riemann_middle")
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-5)


def test_integrated_gradients_default_baseline_is_black_for_a_loaded_model(photos):
    model = load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32})
    images = model.preprocess(photos[:2])
    black = model.black((32, 32))
    torch.testing.assert_close(model.to_display(black), torch.zeros(1, 3, 32, 32))
    maps = explain(model, images, [1, 2], "integrated_gradients", steps=8)
    expected = integrated_gradients_attributions(model.module, images, [1, 2], baseline=black, steps=8)
    torch.testing.assert_close(maps, pixel_map(expected))


def test_smoothgrad_by_definition(small_cnn, images):
    ours = smoothgrad_attributions(small_cnn, images, TARGETS, n=5, sigma=0.2, seed=3)
    generator = torch.Generator().manual_seed(3)
    spread = images.flatten(1).max(dim=1).values - images.flatten(1).min(dim=1).values
    expected = torch.zeros_like(images)
    for _ in range(5):
        noisy = images + 0.2 * spread.view(-1, 1, 1, 1) * torch.randn(images.shape, generator=generator)
        noisy.requires_grad_(True)
        small_cnn(noisy)[torch.arange(3), TARGETS].sum().backward()
        expected += noisy.grad / 5
    torch.testing.assert_close(ours, expected)
    again = smoothgrad_attributions(small_cnn, images, TARGETS, n=5, sigma=0.2, seed=3)
    torch.testing.assert_close(ours, again)


def test_guided_backprop_matches_captum_and_works_in_place(small_cnn, not_in_place, images):
    theirs = GuidedBackprop(not_in_place).attribute(images, target=TARGETS)
    torch.testing.assert_close(guided_backprop_attributions(not_in_place, images, TARGETS), theirs)
    torch.testing.assert_close(guided_backprop_attributions(small_cnn, images, TARGETS), theirs)
    plain = gradient_attributions(small_cnn, images, TARGETS)
    assert not torch.allclose(plain, theirs)  # the hooks did something, and are gone afterwards
    assert all(not m._forward_hooks for m in small_cnn.modules())


def test_pixel_maps_are_unit_range_and_per_image(small_cnn, images):
    for method in ("gradient", "smoothgrad", "integrated_gradients", "guided_backprop"):
        maps = explain(small_cnn, images, TARGETS, method)
        assert maps.shape == (3, 16, 16) and maps.dtype == torch.float32
        assert float(maps.min()) == 0.0 and float(maps.max()) == 1.0
    batch = explain(small_cnn, images, TARGETS, "gradient")
    single = explain(small_cnn, images[1:2], TARGETS[1:2], "gradient")
    torch.testing.assert_close(batch[1], single[0])


@pytest.mark.parametrize("base", ["gradient", "guided_backprop", "integrated_gradients"])
def test_smoothgrad_squared_and_vargrad_by_definition(small_cnn, images, base):
    """Hoedt et al.'s J = 25 noisy copies (here 4): SmoothGrad² = mean of squares, VarGrad = variance."""
    functions = {"gradient": gradient_attributions, "guided_backprop": guided_backprop_attributions,
                 "integrated_gradients": integrated_gradients_attributions}
    generator = torch.Generator().manual_seed(7)
    spread = (images.flatten(1).max(dim=1).values - images.flatten(1).min(dim=1).values).view(-1, 1, 1, 1)
    noise = [0.1 * spread * torch.randn(images.shape, generator=generator) for _ in range(4)]
    samples = torch.stack([functions[base](small_cnn, images + e, TARGETS) for e in noise])
    squared = smoothgrad_squared_attributions(small_cnn, images, TARGETS, base=base, n=4, sigma=0.1, seed=7)
    variance = vargrad_attributions(small_cnn, images, TARGETS, base=base, n=4, sigma=0.1, seed=7)
    torch.testing.assert_close(squared, samples.square().mean(dim=0))
    torch.testing.assert_close(variance, samples.var(dim=0, correction=0), rtol=1e-4, atol=1e-9)
    assert float(variance.abs().max()) > 0


def test_noise_wrappers_refuse_an_unknown_base(small_cnn, images):
    with pytest.raises(ExplainError, match="base must be one of"):
        vargrad_attributions(small_cnn, images, TARGETS, base="occlusion", n=2)
