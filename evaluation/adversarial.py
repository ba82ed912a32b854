"""The adversarial plausibility test (Hoedt et al.): perturb a chosen subset of an image's segments
with PGD until the label flips, then ask whether an explainer's top-k segments of the flipped
image are the perturbed ones. The perturbed segments are the ground truth of what changed the
decision."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from skimage.segmentation import slic
from torch.nn import functional as F

from evaluation.errors import EvaluationError
from evaluation.scoring import check_batch, module_of
from explainers import LoadedModel, explain

SEGMENTATIONS = ("grid", "slic")


def segment(pixels: np.ndarray, kind: str = "grid", n_segments: int = 16) -> np.ndarray:
    """(H, W, 3) image in [0, 1] -> (H, W) int64 segment ids from 0: a sqrt(n) x sqrt(n) grid or
    SLIC superpixels (scikit-image, `n_segments` asked for; SLIC may give a few more or fewer)."""
    h, w = pixels.shape[:2]
    if kind == "grid":
        side = int(round(np.sqrt(n_segments)))
        if side * side != n_segments:
            raise EvaluationError(f"a grid needs a square number of segments, got {n_segments}")
        return (np.arange(h)[:, None] * side // h) * side + np.arange(w)[None, :] * side // w
    if kind == "slic":
        labels = slic(pixels, n_segments=n_segments, start_label=0, channel_axis=-1)
        return np.unique(labels, return_inverse=True)[1].reshape(h, w).astype(np.int64)
    raise EvaluationError(f"unknown segmentation {kind!r}; choose from {', '.join(SEGMENTATIONS)}")


def display_pixels(model, images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) model inputs -> (B, H, W, 3) float in [0, 1] (a bare module's inputs min-max scaled)."""
    if isinstance(model, LoadedModel):
        pixels = model.to_display(images)
    else:
        low = images.amin(dim=(1, 2, 3), keepdim=True)
        pixels = (images - low) / (images.amax(dim=(1, 2, 3), keepdim=True) - low).clamp_min(1e-12)
    return pixels.permute(0, 2, 3, 1).detach().cpu().numpy()


@dataclass(frozen=True)
class Attack:
    images: torch.Tensor  # (B, 3, H, W) perturbed model inputs
    flipped: np.ndarray  # (B,) bool: the top-1 class is no longer the target
    labels: np.ndarray  # (B,) top-1 class of the perturbed image
    steps: np.ndarray  # (B,) PGD steps taken (the budget where the label never flipped)


def segment_pgd(model, images: torch.Tensor, targets, masks: torch.Tensor, *, epsilon: float = 8 / 255,
                step_size: float = 1 / 255, max_steps: int = 50) -> Attack:
    """Untargeted L-inf PGD (sign of the cross-entropy gradient) that changes only the pixels where
    the (B, H, W) bool `masks` hold, stopping per image once its top-1 class differs from the target.
    `epsilon` and `step_size` are in pixel units of [0, 1] for a LoadedModel (divided by its std),
    in input units for a bare module; a LoadedModel's perturbed photo stays within [0, 1]."""
    targets = check_batch(images, targets)
    module = module_of(model)
    scale = torch.ones(1, 3, 1, 1, device=images.device)
    low = high = None
    if isinstance(model, LoadedModel):
        low = model.to_input(torch.zeros(1, 3, 1, 1, device=images.device))  # black
        high = model.to_input(torch.ones(1, 3, 1, 1, device=images.device))  # white
        scale = high - low  # one pixel unit of [0, 1] in input units: 1 / std
    region = masks.to(images.device, images.dtype)[:, None]
    delta = torch.zeros_like(images)
    active = torch.ones(len(images), dtype=torch.bool, device=images.device)
    steps = torch.zeros(len(images), dtype=torch.int64, device=images.device)
    for _ in range(max_steps + 1):
        with torch.enable_grad():
            delta.requires_grad_(True)
            logits = module(images + delta)
            active = active & (logits.argmax(dim=1) == targets)
            if not active.any():
                break
            loss = F.cross_entropy(logits, targets, reduction="sum")
            (gradient,) = torch.autograd.grad(loss, delta)
        if int(steps.max()) == max_steps:
            break
        with torch.no_grad():
            move = step_size * scale * gradient.sign() * region * active.view(-1, 1, 1, 1)
            delta = torch.clamp(delta.detach() + move, -epsilon * scale, epsilon * scale)
            if low is not None:
                delta = torch.max(torch.min(images + delta, high), low) - images
        steps += active
    perturbed = (images + delta).detach()
    with torch.no_grad():
        labels = module(perturbed).argmax(dim=1)
    return Attack(perturbed, (labels != targets).cpu().numpy(), labels.cpu().numpy(), steps.cpu().numpy())


def top_segments(maps: np.ndarray, segments: np.ndarray, k: int) -> np.ndarray:
    """(B, H, W) maps and segment ids -> (B, k) ids of the k segments of highest mean map value."""
    top = []
    for map_, ids in zip(maps, segments):
        means = np.bincount(ids.ravel(), weights=map_.ravel()) / np.maximum(np.bincount(ids.ravel()), 1)
        top.append(np.argsort(-means, kind="stable")[:k])
    return np.array(top)


@dataclass(frozen=True)
class Plausibility:
    attack: Attack
    segments: np.ndarray  # (B, H, W) segment ids
    chosen: np.ndarray  # (B, k) the perturbed segments
    # method -> (B,) share of its top-k segments that were perturbed; NaN where the label did not flip
    recovery: dict[str, np.ndarray]

    @property
    def flip_rate(self) -> float:
        """Share of images whose label flipped within the budget, in [0, 1]."""
        return float(self.attack.flipped.mean())


def plausibility_test(model, images: torch.Tensor, targets, methods: Sequence[str], *,
                      segmentation: str = "grid", n_segments: int = 16, k: int = 3,
                      epsilon: float = 8 / 255, step_size: float = 1 / 255, max_steps: int = 50,
                      seed: int = 0) -> Plausibility:
    """Perturb k randomly chosen (seeded) segments of each image by `segment_pgd`, explain each
    flipped image for its new top-1 class with every method and score how many of the method's
    top-k segments (by mean map value) are the perturbed ones (Hoedt et al.: k = 3, 4x4 grid or SLIC 16)."""
    targets = check_batch(images, targets)
    segments = np.stack([segment(pixels, segmentation, n_segments)
                         for pixels in display_pixels(model, images)])
    rng = np.random.default_rng(seed)
    chosen = []
    for ids in segments:
        present = np.unique(ids)
        if len(present) < k:
            raise EvaluationError(f"an image has {len(present)} segments, fewer than k = {k}")
        chosen.append(rng.choice(present, size=k, replace=False))
    chosen = np.array(chosen)
    masks = torch.from_numpy(np.stack([np.isin(ids, c) for ids, c in zip(segments, chosen)]))
    attack = segment_pgd(model, images, targets, masks, epsilon=epsilon, step_size=step_size,
                         max_steps=max_steps)
    recovery = {}
    flipped = attack.flipped
    for method in methods:
        scores = np.full(len(images), np.nan)
        if flipped.any():
            index = torch.from_numpy(np.flatnonzero(flipped)).to(images.device)
            labels = torch.from_numpy(attack.labels[flipped]).to(images.device)
            maps = explain(model, attack.images[index], labels, method).detach().cpu().numpy()
            top = top_segments(maps, segments[flipped], k)
            scores[flipped] = [np.isin(t, c).mean() for t, c in zip(top, chosen[flipped])]
        recovery[method] = scores
    return Plausibility(attack, segments, chosen, recovery)
