"""Faithfulness of explanation maps: deletion and insertion curves (Petsiuk et al., RISE, 2018),
Average Drop and Increase in Confidence (Chattopadhyay et al., Grad-CAM++, 2018) and ADCC
(Poppi et al., 2021).

Scores are class probabilities (softmax; sigmoid for a multi-label model) of each image's
target. Everything stays on the images' device; the step images of a batch are built from a
rank map on the fly and sent through the model `batch_size` at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torchvision.transforms.functional import gaussian_blur

from evaluation.errors import EvaluationError
from evaluation.scoring import check_batch, target_probabilities
from explainers import LoadedModel, explain

BASELINES = ("black", "blur")


@dataclass(frozen=True)
class Curve:
    """A deletion or insertion curve per image."""

    fractions: np.ndarray  # (T,) fraction of pixels deleted / inserted, 0 ... 1
    scores: np.ndarray  # (B, T) probability of the target after each step
    auc: np.ndarray  # (B,) trapezoidal area under `scores` over `fractions`, in [0, 1]


def deletion_curve(model, images: torch.Tensor, targets, maps: torch.Tensor, *, step: int = 224,
                   baseline: str | torch.Tensor = "black", batch_size: int = 64) -> Curve:
    """Replace the most salient pixels first, `step` pixels at a time, by the baseline; (B, 3, H, W)
    inputs, (B, H, W) maps -> Curve with T = ceil(H W / step) + 1 points (0 pixels ... all).

    Ties in a map are broken by pixel index (row-major), so a result is reproducible. Against
    Quantus' PixelFlipping set up alike (see tests/unit/evaluation/test_faithfulness.py): its
    curve is ours without the first point (it predicts only after each step), and its AUC
    (`np.trapz(dx=1)` over those points) is ours times (T - 1) minus the first trapezoid."""
    return _curve(model, images, targets, maps, step, baseline, batch_size, insert=False)


def insertion_curve(model, images: torch.Tensor, targets, maps: torch.Tensor, *, step: int = 224,
                    baseline: str | torch.Tensor = "blur", batch_size: int = 64) -> Curve:
    """Start from the baseline (RISE: the blurred image) and put the most salient pixels back
    first, `step` at a time; shapes as `deletion_curve`."""
    return _curve(model, images, targets, maps, step, baseline, batch_size, insert=True)


def baseline_images(model, images: torch.Tensor, baseline: str | torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) inputs -> (B, 3, H, W) baseline: "black" (the model's black image; zeros for a
    bare nn.Module), "blur" (Gaussian, kernel 11, sigma 5, as RISE) or a tensor broadcast to B."""
    if isinstance(baseline, torch.Tensor):
        return baseline.to(images.device, images.dtype).expand_as(images)
    if baseline == "black":
        if isinstance(model, LoadedModel):
            return model.black(images.shape[-2:]).to(images.device).expand_as(images)
        return torch.zeros_like(images)
    if baseline == "blur":
        return gaussian_blur(images, kernel_size=[11, 11], sigma=[5.0, 5.0])
    raise EvaluationError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)} "
                          "or give a tensor")


def _curve(model, images, targets, maps, step, baseline, batch_size, insert) -> Curve:
    targets = check_batch(images, targets, maps)
    if step < 1:
        raise EvaluationError(f"step must be at least one pixel, got {step}")
    b, _, h, w = images.shape
    n = h * w
    counts = torch.tensor([*range(0, n, step), n], device=images.device)  # (T,) pixels changed
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(n, device=images.device).expand(b, n))
    rank = rank.view(b, 1, h, w)
    base = baseline_images(model, images, baseline)
    steps = len(counts)
    scores = torch.empty(b * steps, device=images.device)
    for start in range(0, b * steps, batch_size):
        k = torch.arange(start, min(start + batch_size, b * steps), device=images.device)
        i, t = k // steps, k % steps
        changed = rank[i] < counts[t].view(-1, 1, 1, 1)
        x = torch.where(changed, images[i], base[i]) if insert else torch.where(changed, base[i], images[i])
        scores[k] = target_probabilities(model, x, targets[i], batch_size)
    scores = scores.view(b, steps).cpu().numpy()
    fractions = (counts.float() / n).cpu().numpy()
    return Curve(fractions, scores, np.trapezoid(scores, fractions, axis=1))


@dataclass(frozen=True)
class ConfidenceChange:
    """Probabilities of each image's target on the image (Y) and on the explanation map (O)."""

    full: np.ndarray  # (B,) Y in [0, 1]
    masked: np.ndarray  # (B,) O in [0, 1]

    @property
    def drop(self) -> np.ndarray:
        """(B,) max(0, Y - O) / Y in [0, 1]."""
        return np.maximum(self.full - self.masked, 0) / self.full

    @property
    def average_drop(self) -> float:
        """Percent, 0 (no drop) ... 100."""
        return float(100 * self.drop.mean())

    @property
    def increase_in_confidence(self) -> float:
        """Percent of images with O > Y."""
        return float(100 * (self.masked > self.full).mean())


def explanation_images(model, images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """The image multiplied pixel-wise by its map, as model inputs (B, 3, H, W). For a LoadedModel
    the photo in [0, 1] is multiplied, then normalised again (Chattopadhyay et al.); a bare module's
    inputs are multiplied as they are."""
    if isinstance(model, LoadedModel):
        return model.to_input(model.to_display(images) * maps[:, None])
    return images * maps[:, None]


def confidence_change(model, images: torch.Tensor, targets, maps: torch.Tensor,
                      batch_size: int = 64) -> ConfidenceChange:
    """Average Drop and Increase in Confidence of (B, H, W) maps in [0, 1] on (B, 3, H, W) inputs.

    pytorch-grad-cam's `DropInConfidence` / `IncreaseInConfidence` (metrics/cam_mult_image.py)
    differ in three ways: they multiply the *normalised* tensor by the map (so a zero map gives
    the mean colour, not black; we do the same only for a bare nn.Module), their drop is the
    absolute max(0, Y - O), not divided by Y, and they return per-image values, not percentages.
    With the same inputs: drop = theirs / Y, IC = 100 * mean(theirs)."""
    targets = check_batch(images, targets, maps)
    full = target_probabilities(model, images, targets, batch_size)
    masked = target_probabilities(model, explanation_images(model, images, maps), targets, batch_size)
    return ConfidenceChange(full.cpu().numpy(), masked.cpu().numpy())


@dataclass(frozen=True)
class ADCC:
    """Poppi et al. 2021, per image; all (B,) in [0, 1], higher ADCC is better."""

    average_drop: np.ndarray  # max(0, Y - O) / Y
    coherency: np.ndarray  # (PCC(L(x * L(x)), L(x)) + 1) / 2; NaN where a map is constant
    complexity: np.ndarray  # mean of the map (its L1 norm over H W)
    adcc: np.ndarray  # 3 / (1 / coherency + 1 / (1 - complexity) + 1 / (1 - average_drop))


def adcc(model, images: torch.Tensor, targets, method: str, maps: torch.Tensor | None = None,
         batch_size: int = 64, **params) -> ADCC:
    """ADCC of `method` (any `explainers.explain` name, with `params`) on (B, 3, H, W) inputs;
    `maps` (B, H, W) are its maps of `images` when already computed. The map of the explanation
    image is for the same target class."""
    targets = check_batch(images, targets, maps)
    if maps is None:
        maps = explain(model, images, targets, method, **params)
    masked_input = explanation_images(model, images, maps)
    masked_maps = explain(model, masked_input, targets, method, **params)
    full = target_probabilities(model, images, targets, batch_size)
    masked = target_probabilities(model, masked_input, targets, batch_size)
    drop = (torch.clamp(full - masked, min=0) / full).cpu().numpy()
    coherency = (pearson(masked_maps, maps) + 1) / 2
    complexity = maps.flatten(1).mean(dim=1).cpu().numpy()
    terms = np.stack([coherency, 1 - complexity, 1 - drop])
    with np.errstate(divide="ignore"):
        score = np.where((terms > 0).all(axis=0), 3 / (1 / np.where(terms > 0, terms, 1)).sum(axis=0), 0.0)
    score = np.where(np.isnan(coherency), np.nan, score)
    return ADCC(drop, coherency, complexity, score)


def pearson(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Row-wise Pearson correlation of (B, ...) tensors -> (B,) float64; NaN for a constant row."""
    a = a.flatten(1).double().cpu().numpy()
    b = b.flatten(1).double().cpu().numpy()
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (a * b).sum(axis=1) / norm, np.nan)
