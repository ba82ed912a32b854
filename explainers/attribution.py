"""Pixel attribution: vanilla gradient, SmoothGrad, Integrated Gradients, Guided Backpropagation,
Gradient x Input, and SmoothGrad² and VarGrad over any of the pixel methods.

Each `*_attributions` function returns the signed (B, 3, H, W) attribution of the target logit
(the perturbation methods in `explainers.perturbation` return (B, H, W) maps); the maps that
`explainers.explain` returns are `pixel_map(...)` of it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from explainers.errors import ExplainError
from explainers.methods import REGISTRY
from explainers.noise import noisy_copies
from explainers.targets import as_targets, normalise, target_scores


def pixel_map(attributions: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) signed attributions -> |attribution| summed over the colour channels; (B, H, W)
    signed maps -> their positive part; either min-max scaled per image: (B, H, W) float32 in [0, 1]."""
    if attributions.dim() == 3:
        return normalise(attributions.clamp(min=0))
    return normalise(attributions.abs().sum(dim=1))


def input_gradients(module: nn.Module, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 3, H, W) gradient of each image's target logit w.r.t. its pixels."""
    with torch.enable_grad():
        inputs = images.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(target_scores(module(inputs), targets).sum(), inputs)
    return gradient


def gradient_attributions(module: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
    """Simonyan et al. 2014: the plain input gradient, (B, 3, H, W)."""
    return input_gradients(module, images, as_targets(targets, len(images), images.device))


def smoothgrad_attributions(module: nn.Module, images: torch.Tensor, targets, n: int = 25,
                            sigma: float = 0.15, seed: int | None = None) -> torch.Tensor:
    """Smilkov et al. 2017: mean input gradient over `n` copies with Gaussian noise of standard
    deviation `sigma` x (max - min) of each image; `seed` makes the noise reproducible."""
    targets = as_targets(targets, len(images), images.device)
    total = torch.zeros_like(images)
    for noisy in noisy_copies(images, n, sigma, seed):
        total += input_gradients(module, noisy, targets)
    return total / n


def integrated_gradients_attributions(module: nn.Module, images: torch.Tensor, targets,
                                      baseline: torch.Tensor | None = None, steps: int = 50,
                                      internal_batch_size: int = 64) -> torch.Tensor:
    """Sundararajan et al. 2017, midpoint Riemann sum with `steps` points:
    (x - x0) * mean_k grad f(x0 + a_k (x - x0)), a_k = (k + 0.5) / steps. `baseline` is (3, H, W)
    or (B, 3, H, W) in the model's input space (default zeros; pass the normalised black image)."""
    targets = as_targets(targets, len(images), images.device)
    baseline = torch.zeros_like(images) if baseline is None else baseline.expand_as(images)
    delta = images - baseline
    alphas = (torch.arange(steps, device=images.device, dtype=images.dtype) + 0.5) / steps
    per_chunk = max(1, internal_batch_size // len(images))
    total = torch.zeros_like(images)
    for chunk in alphas.split(per_chunk):
        points = baseline[None] + chunk.view(-1, 1, 1, 1, 1) * delta[None]  # (k, B, 3, H, W)
        gradient = input_gradients(module, points.flatten(0, 1), targets.repeat(len(chunk)))
        total += gradient.view(len(chunk), *images.shape).sum(dim=0)
    return delta * total / steps


@contextmanager
def guided_relus(module: nn.Module) -> Iterator[None]:
    """While active, every nn.ReLU / nn.ReLU6 passes back only positive gradients (tensor hooks
    on their outputs, added by forward hooks; all removed on exit). Works with in-place ReLUs."""
    def clamp_gradient(layer, inputs, output):
        if output.requires_grad:
            output.register_hook(lambda grad: grad.clamp(min=0))

    handles = [layer.register_forward_hook(clamp_gradient) for layer in module.modules()
               if isinstance(layer, (nn.ReLU, nn.ReLU6))]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def guided_backprop_attributions(module: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
    """Springenberg et al. 2015: the input gradient with ReLUs passing back only positive gradients."""
    targets = as_targets(targets, len(images), images.device)
    with guided_relus(module):
        return input_gradients(module, images, targets)


def gradient_x_input_attributions(module: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
    """Shrikumar et al. 2016: the input gradient times the input, (B, 3, H, W)."""
    return images * gradient_attributions(module, images, targets)


def _noisy_moments(module: nn.Module, images: torch.Tensor, targets, base: str, n: int, sigma: float,
                   seed: int, baseline: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean square and variance (1/n, Welford's update) of `base`'s (B, 3, H, W) attributions over n
    noisy copies (noise as smoothgrad's)."""
    if base not in NOISE_BASES:
        raise ExplainError(f"base must be one of {', '.join(NOISE_BASES)}, not {base!r}")
    function = REGISTRY[base].load()
    extra = {"baseline": baseline} if base in ("integrated_gradients", "deeplift") else {}
    targets = as_targets(targets, len(images), images.device)
    square, mean, spread = (torch.zeros_like(images) for _ in range(3))
    for count, noisy in enumerate(noisy_copies(images, n, sigma, seed), start=1):
        attribution = function(module, noisy, targets, **extra)
        square += attribution.square() / n
        delta = attribution - mean
        mean += delta / count
        spread += delta * (attribution - mean)
    return square, spread / n


NOISE_BASES = ("gradient", "guided_backprop", "integrated_gradients", "gradient_x_input", "deconvnet",
               "deeplift", "lrp")


def smoothgrad_squared_attributions(module: nn.Module, images: torch.Tensor, targets,
                                    base: str = "gradient", n: int = 25, sigma: float = 0.15, seed: int = 0,
                                    baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Hooker et al. 2019: the mean of the squared `base` attributions over n noisy copies,
    (B, 3, H, W). `baseline` goes to integrated_gradients and deeplift."""
    return _noisy_moments(module, images, targets, base, n, sigma, seed, baseline)[0]


def vargrad_attributions(module: nn.Module, images: torch.Tensor, targets, base: str = "gradient",
                         n: int = 25, sigma: float = 0.15, seed: int = 0,
                         baseline: torch.Tensor | None = None) -> torch.Tensor:
    """Adebayo et al. 2018: the variance (1/n) of the `base` attributions over n noisy copies,
    (B, 3, H, W)."""
    return _noisy_moments(module, images, targets, base, n, sigma, seed, baseline)[1]
