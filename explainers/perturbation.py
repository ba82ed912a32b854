"""Perturbation methods: occlusion, RISE and LIME. Each returns a signed (B, H, W) map of the
target score's dependence on each pixel (`pixel_map` keeps its positive part).

Perturbed images replace pixels by `baseline` ((1 or B, 3, H, W) in the model's input space,
default zeros; explain() passes a LoadedModel's black image). They run through the model
`internal_batch_size` at a time, so memory stays bounded whatever the number of perturbations.
Occlusion explains the logit (as captum's Occlusion); RISE and LIME the softmax probability, as
their papers do. Random draws come from a torch.Generator seeded with `seed`, so maps repeat.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from explainers.errors import ExplainError
from explainers.targets import as_targets, target_scores


def _baseline(images: torch.Tensor, baseline: torch.Tensor | None) -> torch.Tensor:
    return torch.zeros_like(images) if baseline is None else baseline.to(images.device).expand_as(images)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def perturbed_scores(module: nn.Module, images: torch.Tensor, baseline: torch.Tensor, targets: torch.Tensor,
                     keep: torch.Tensor, probabilities: bool) -> torch.Tensor:
    """Scores of images * keep + baseline * (1 - keep) for every mask: (B, 3, H, W) images, (N, 1 or B,
    H, W) keep masks in [0, 1] -> (N, B) target logit or softmax probability."""
    batch = len(images)
    keep = keep.expand(-1, batch, -1, -1) if keep.shape[1] == 1 else keep
    mixed = baseline[None] + keep[:, :, None] * (images - baseline)[None]  # (N, B, 3, H, W)
    scores = module(mixed.flatten(0, 1))
    if probabilities:
        scores = scores.softmax(dim=1)
    return target_scores(scores, targets.repeat(len(keep))).view(len(keep), batch)


def chunks(total: int, batch: int, internal_batch_size: int) -> Iterator[slice]:
    """Slices of range(total) with about internal_batch_size / batch perturbations each."""
    step = max(1, internal_batch_size // batch)
    for start in range(0, total, step):
        yield slice(start, min(total, start + step))


def occlusion_windows(size: tuple[int, int], window: int, stride: int, device=None) -> torch.Tensor:
    """(N, H, W) boolean masks of the occluding squares: top-left corners every `stride` pixels from 0
    while the square still starts inside, ceil((H - window) / stride) + 1 per axis (captum's
    Occlusion grid), clipped at the border."""
    if not 0 < stride <= window <= min(size):
        raise ExplainError(f"occlusion needs 0 < stride <= window <= image side, got window={window}, "
                           f"stride={stride} for {size}")
    starts = [range(0, (math.ceil((side - window) / stride) + 1) * stride, stride) for side in size]
    masks = torch.zeros(len(starts[0]) * len(starts[1]), *size, dtype=torch.bool, device=device)
    for i, (top, left) in enumerate((t, l) for t in starts[0] for l in starts[1]):
        masks[i, top:top + window, left:left + window] = True
    return masks


@torch.no_grad()
def occlusion_attributions(module: nn.Module, images: torch.Tensor, targets, window: int = 32,
                           stride: int = 16, baseline: torch.Tensor | None = None,
                           internal_batch_size: int = 64) -> torch.Tensor:
    """Zeiler & Fergus 2014: at each pixel, the mean over the windows covering it of f(x) - f(x with the
    window set to the baseline), f the target logit. (B, 3, H, W) -> (B, H, W)."""
    targets = as_targets(targets, len(images), images.device)
    baseline = _baseline(images, baseline)
    windows = occlusion_windows(images.shape[-2:], window, stride, images.device)
    clean = target_scores(module(images), targets)
    total = torch.zeros(images.shape[0], *images.shape[-2:], device=images.device)
    for part in chunks(len(windows), len(images), internal_batch_size):
        keep = (~windows[part, None]).to(images.dtype)
        drops = clean[None] - perturbed_scores(module, images, baseline, targets, keep, probabilities=False)
        total += torch.einsum("nb,nhw->bhw", drops, windows[part].to(drops.dtype))
    return total / windows.sum(dim=0).to(total.dtype)


def rise_masks(count: int, size: tuple[int, int], cells: int, p: float, generator: torch.Generator,
               device=None) -> torch.Tensor:
    """Petsiuk et al. 2018: (count, H, W) float masks in [0, 1]: a cells x cells grid of Bernoulli(p)
    cells, upsampled bilinearly to (cells + 1) * cell size and cropped at a random shift below one cell."""
    cell = (math.ceil(size[0] / cells), math.ceil(size[1] / cells))
    grid = (torch.rand(count, 1, cells, cells, generator=generator, device=device) < p).float()
    up = torch.nn.functional.interpolate(grid, size=((cells + 1) * cell[0], (cells + 1) * cell[1]),
                                         mode="bilinear", align_corners=False)[:, 0]
    dy = torch.randint(0, cell[0], (count,), generator=generator, device=device)
    dx = torch.randint(0, cell[1], (count,), generator=generator, device=device)
    rows = (dy[:, None] + torch.arange(size[0], device=device))[:, :, None]
    cols = (dx[:, None] + torch.arange(size[1], device=device))[:, None, :]
    return up[torch.arange(count, device=device)[:, None, None], rows, cols]


@torch.no_grad()
def rise_attributions(module: nn.Module, images: torch.Tensor, targets, masks: int = 4000, cells: int = 7,
                      p: float = 0.5, seed: int = 0, baseline: torch.Tensor | None = None,
                      internal_batch_size: int = 64, mask_chunk: int = 500) -> torch.Tensor:
    """RISE: sum_i P(target | masked image i) * M_i / (masks * p), the same `masks` random masks for
    every image, drawn `mask_chunk` at a time from `seed`. (B, 3, H, W) -> (B, H, W)."""
    targets = as_targets(targets, len(images), images.device)
    baseline = _baseline(images, baseline)
    generator = _generator(images.device, seed)
    total = torch.zeros(images.shape[0], *images.shape[-2:], device=images.device)
    for start in range(0, masks, mask_chunk):
        count = min(mask_chunk, masks - start)
        drawn = rise_masks(count, images.shape[-2:], cells, p, generator, images.device)
        for part in chunks(len(drawn), len(images), internal_batch_size):
            probs = perturbed_scores(module, images, baseline, targets, drawn[part, None], probabilities=True)
            total += torch.einsum("nb,nhw->bhw", probs, drawn[part])
    return total / (masks * p)


def segments(image: torch.Tensor, segmentation: str, n_segments: int) -> torch.Tensor:
    """(3, H, W) image -> (H, W) int64 labels 0..S-1: a sqrt(n) x sqrt(n) grid, or scikit-image's SLIC
    (n_segments, compactness 10, start_label 0) on the image min-max scaled to [0, 1]."""
    height, width = image.shape[-2:]
    if segmentation == "grid":
        side = math.isqrt(n_segments)
        if side * side != n_segments:
            raise ExplainError(f"a grid needs a square number of segments, not {n_segments}")
        rows = torch.arange(height, device=image.device) * side // height
        cols = torch.arange(width, device=image.device) * side // width
        return rows[:, None] * side + cols[None, :]
    if segmentation == "slic":
        from skimage.segmentation import slic

        pixels = image.permute(1, 2, 0).detach().cpu().double().numpy()
        pixels = (pixels - pixels.min()) / max(float(np.ptp(pixels)), 1e-12)
        labels = slic(pixels, n_segments=n_segments, compactness=10, start_label=0, channel_axis=-1)
        dense = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)  # labels 0..S-1, no gaps
        return torch.from_numpy(dense).to(image.device)
    raise ExplainError(f"segmentation must be 'grid' or 'slic', not {segmentation!r}")


def lime_samples(count: int, features: int, generator: torch.Generator, device=None) -> torch.Tensor:
    """(count, features) 0/1 float samples as LIME draws them: each feature on with p = 0.5; the
    first sample is the unperturbed image (all ones)."""
    samples = torch.randint(0, 2, (count, features), generator=generator, device=device).float()
    samples[0] = 1
    return samples


def lime_kernel(samples: torch.Tensor, width: float) -> torch.Tensor:
    """LIME's image kernel: sqrt(exp(-d^2 / width^2)), d the cosine distance between each (N, S)
    0/1 sample and the all-ones vector (d = 1 for the all-zeros sample). -> (N,)"""
    norms = samples.norm(dim=1) * math.sqrt(samples.shape[1])
    cosine = torch.where(norms > 0, samples.sum(dim=1) / norms.clamp(min=1e-12), torch.zeros_like(norms))
    return torch.exp(-((1 - cosine) ** 2) / width**2).sqrt()


def weighted_ridge(features: torch.Tensor, scores: torch.Tensor, weights: torch.Tensor,
                   alpha: float) -> torch.Tensor:
    """sklearn's Ridge(alpha).fit(X, y, sample_weight).coef_: (N, S), (N,), (N,) -> (S,), intercept
    unpenalised (X and y centred at their weighted means)."""
    w = weights / weights.sum()
    x = features - w @ features
    y = scores - w @ scores
    gram = x.T @ (weights[:, None] * x) + alpha * torch.eye(x.shape[1], device=x.device, dtype=x.dtype)
    return torch.linalg.solve(gram, x.T @ (weights * y))


@torch.no_grad()
def lime_attributions(module: nn.Module, images: torch.Tensor, targets, samples: int = 512,
                      segmentation: str = "grid", n_segments: int = 16, kernel_width: float = 0.25,
                      k: int = 3, alpha: float = 1.0, seed: int = 0, baseline: torch.Tensor | None = None,
                      internal_batch_size: int = 64) -> torch.Tensor:
    """Ribeiro et al. 2016 with Hoedt et al.'s settings: `samples` on/off draws of the segments (off:
    baseline), the target's softmax probability regressed on them by ridge (`alpha`) weighted with
    LIME's kernel; each pixel gets its segment's weight if that weight is among the `k` largest
    (k=0: all segments), else 0. The fit keeps every segment (LIME's forward selection is not
    used). (B, 3, H, W) -> (B, H, W)."""
    targets = as_targets(targets, len(images), images.device)
    baseline = _baseline(images, baseline)
    labels = [segments(image, segmentation, n_segments) for image in images]
    most = max(int(lab.max()) + 1 for lab in labels)
    draws = lime_samples(samples, most, _generator(images.device, seed), images.device)
    maps = torch.zeros(images.shape[0], *images.shape[-2:], device=images.device)
    for b, lab in enumerate(labels):
        coef = lime_weights(module, images[b], baseline[b], targets[b:b + 1], lab, draws, kernel_width, alpha,
                            internal_batch_size)
        if 0 < k < len(coef):
            coef = torch.where(coef >= coef.topk(k).values[-1], coef, torch.zeros_like(coef))
        maps[b] = coef[lab]
    return maps


@torch.no_grad()
def lime_weights(module: nn.Module, image: torch.Tensor, baseline: torch.Tensor, target: torch.Tensor,
                 labels: torch.Tensor, draws: torch.Tensor, kernel_width: float, alpha: float,
                 internal_batch_size: int = 64) -> torch.Tensor:
    """LIME's surrogate for one (3, H, W) image with (H, W) segment labels 0..S-1: the (S,) ridge weights
    of the target probability on the first S columns of the (N, >=S) 0/1 `draws`."""
    count = int(labels.max()) + 1
    onehot = torch.nn.functional.one_hot(labels, count).permute(2, 0, 1).to(image.dtype)  # (S, H, W)
    chosen = draws[:, :count]
    scores = torch.cat([
        perturbed_scores(module, image[None], baseline[None], target,
                         torch.einsum("ns,shw->nhw", chosen[part], onehot)[:, None], probabilities=True)[:, 0]
        for part in chunks(len(draws), 1, internal_batch_size)])
    chosen = chosen.double()
    return weighted_ridge(chosen, scores.double(), lime_kernel(chosen, kernel_width), alpha).to(image.dtype)
