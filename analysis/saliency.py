"""Map-vs-gaze metrics of the MIT saliency benchmark, vectorised over a batch of maps.

Each metric takes `saliency_map`, one map `(h, w)` or a batch `(B, h, w)` of real values, and
one gaze map: a density `(H, W)` (a GFDM, >= 0) or a fixation map `(H, W)` (nonzero = fixated
pixel). Maps are first resized to the gaze map's size by plain bilinear interpolation (pixel
centres aligned, no antialiasing), then scored. A single map gives a float, a batch a `(B,)`
float64 array. Definitions follow the MIT benchmark's MATLAB code (Bylinskii et al., "What do
different evaluation metrics tell us about saliency models?", TPAMI 2019); each docstring says
where that code or pysaliency (0.2.22) differs. Everywhere here:

- a constant map (all zeros included) prefers no location: SIM and KLD read it as the uniform
  density (MIT's min-max step gives NaN, or 0 for all zeros); PCC, NSS and Spearman are
  undefined for it and give NaN (pysaliency's CC gives 0); the AUCs give 0.5.
- arithmetic runs in float64 for float64 maps and in float32 (fast) for any other dtype;
  products are summed row by row (1 row = W pixels) and rows in float64, so float32 scores agree
  with float64 ones to about 1e-6 unless a map's offset dwarfs its spread (e.g. 1e4 + noise).

`centre_bias` is the benchmark's centre baseline (for IG and the report's baseline rows).
`score_maps` is the entry point: a batch, one gaze map, a list of metric names, a data frame.
Fixation points `(N, 2)` as (x, y) become a fixation map with `analysis.gfdm.fixation_map`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from functools import cached_property, partial

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from analysis.errors import AnalysisError, MapShapeError

MATLAB_EPS = float(np.finfo(np.float64).eps)  # 2.2204e-16, the epsilon of MIT's KLdiv

Score = float | np.ndarray


# ---------------------------------------------------------------- resizing


def work_dtype(maps: np.ndarray) -> type:
    """The dtype metrics compute in: float64 for float64 maps, float32 for anything else."""
    return np.float64 if np.asarray(maps).dtype == np.float64 else np.float32


def resize_bilinear(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize `(B, h, w)` maps to `(B, H, W)` in `work_dtype`, bilinear with aligned pixel centres.

    The grid of torch's `interpolate(mode="bilinear", align_corners=False)`; no antialiasing
    (MATLAB's `imresize`, used by the MIT code, antialiases when shrinking).
    """
    maps = np.asarray(maps, dtype=work_dtype(maps))
    if maps.shape[-2:] == tuple(shape):
        return maps
    rows = _interpolation_matrix(maps.shape[-2], shape[0]).astype(maps.dtype)  # (H, h)
    cols = _interpolation_matrix(maps.shape[-1], shape[1]).astype(maps.dtype)  # (W, w)
    return rows @ maps @ cols.T


def _interpolation_matrix(size_in: int, size_out: int) -> np.ndarray:
    """`(size_out, size_in)` float64 weights of 1-D linear interpolation between pixel centres."""
    source = np.clip((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0, size_in - 1)
    lower = np.floor(source).astype(np.int64)
    upper = np.minimum(lower + 1, size_in - 1)
    frac = source - lower
    weights = np.zeros((size_out, size_in))
    np.add.at(weights, (np.arange(size_out), lower), 1 - frac)
    np.add.at(weights, (np.arange(size_out), upper), frac)
    return weights


# ---------------------------------------------------------------- prepared inputs


class _Maps:
    """A batch `(B, H, W)` of maps at the gaze size, with per-map statistics computed once."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.dtype = values.dtype
        self.pixels = values.shape[1] * values.shape[2]
        self.totals = values.sum(axis=2).sum(axis=1, dtype=np.float64)  # (B,), pairwise along rows
        if not np.isfinite(self.totals).all():
            raise MapShapeError("saliency maps contain NaN or infinite (or overflowing) values")

    @cached_property
    def low(self) -> np.ndarray:
        return self.values.min(axis=(1, 2)).astype(np.float64)

    @cached_property
    def high(self) -> np.ndarray:
        return self.values.max(axis=(1, 2)).astype(np.float64)

    @cached_property
    def constant(self) -> np.ndarray:
        """`(B,)` bool: the map has a single value."""
        return self.high == self.low

    @cached_property
    def centred(self) -> np.ndarray:
        """`(B, H, W)` maps minus their means, for scale-free uses only (PCC, NSS): a map whose range
        is below 1e-12 or above 1e12 is also divided by it, so float32 squares neither vanish nor overflow."""
        centred = self.values - _per_map(self.totals / self.pixels, self.dtype)
        span = self.high - self.low
        rescale = ~self.constant & ((span < 1e-12) | (span > 1e12))
        if rescale.any():
            centred[rescale] *= _per_map(1 / span[rescale], self.dtype)
        return centred

    @cached_property
    def norms(self) -> np.ndarray:
        """`(B,)` float64 Euclidean norms of the centred maps."""
        return np.sqrt(_row_dot(self.centred, self.centred))

    @cached_property
    def flat_min_max(self) -> np.ndarray:
        """`(B, H*W)` maps scaled to [0, 1]; a constant map becomes zeros."""
        span = np.where(self.constant, 1.0, self.high - self.low)
        scaled = (self.values - _per_map(self.low, self.dtype)) / _per_map(span, self.dtype)
        return scaled.reshape(len(self.values), -1)


class _Gaze:
    """A gaze density `(H, W)`, checked, with what each metric needs from it computed once,
    in the dtype the maps are scored in."""

    def __init__(self, density: np.ndarray, dtype: type = np.float32):
        density = np.asarray(density, dtype=np.float64)
        if density.ndim != 2:
            raise MapShapeError(f"the gaze density must be one (H, W) map, got shape {density.shape}")
        if not np.isfinite(density).all() or (density < 0).any() or not density.any():
            raise MapShapeError("the gaze density must be finite, non-negative and not all zero")
        self.density = density
        self.shape = density.shape
        self.dtype = dtype
        self.constant = bool(density.max() == density.min())

    @cached_property
    def centred(self) -> tuple[np.ndarray, float]:
        """The density minus its mean, `(H, W)`, and its norm."""
        centred = self.density - self.density.mean()
        return centred.astype(self.dtype), float(np.sqrt(np.sum(centred * centred)))

    @cached_property
    def probability(self) -> np.ndarray:
        """`(H, W)` summing to 1."""
        return (self.density / self.density.sum()).astype(self.dtype)

    @cached_property
    def sim_density(self) -> np.ndarray:
        """`(H, W)` min-max normalised then summing to 1 (uniform if constant)."""
        return _sim_densities(_Maps(self.density[None].astype(self.dtype)))[0]

    @cached_property
    def entropy_term(self) -> float:
        """sum(g log g) of the probability map, 0 log 0 = 0, in float64."""
        p = self.density / self.density.sum()
        return float(np.sum(p * np.log(np.where(p > 0, p, 1))))

    @cached_property
    def ranks(self) -> tuple[np.ndarray, float]:
        """Average ranks of the density, centred, `(H, W)`, and their norm."""
        ranks = stats.rankdata(self.density.ravel()).reshape(self.shape)
        centred = ranks - ranks.mean()
        return centred.astype(self.dtype), float(np.sqrt(np.sum(centred * centred)))

    @cached_property
    def min_max(self) -> np.ndarray:
        return _Maps(self.density[None].astype(self.dtype)).flat_min_max.reshape(self.shape)


class _Fixations:
    """A fixation map `(H, W)` (nonzero = fixated), as flat pixel indices, checked."""

    def __init__(self, fixations: np.ndarray, name: str = "fixation map"):
        fixations = np.asarray(fixations)
        if fixations.ndim != 2:
            raise MapShapeError(f"the {name} must be one (H, W) map, got shape {fixations.shape}")
        self.index = np.flatnonzero(fixations)
        if self.index.size == 0:
            raise MapShapeError(f"the {name} has no fixated pixel")
        self.shape = fixations.shape


def _per_map(values: np.ndarray, dtype: type) -> np.ndarray:
    """`(B,)` values as `(B, 1, 1)` of `dtype`, to broadcast over maps."""
    return np.asarray(values, dtype=dtype)[:, None, None]


def _row_dot(maps: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`sum(maps[b] * weights[b])` `(B,)` float64: products summed per row, rows in float64.

    weights: `(H, W)` (the same for every map) or `(B, H, W)`.
    """
    pattern = "bhw,hw->bh" if weights.ndim == 2 else "bhw,bhw->bh"
    return np.einsum(pattern, maps, weights).sum(axis=1, dtype=np.float64)


def _sim_densities(maps: _Maps) -> np.ndarray:
    """`(B, H, W)` maps min-max normalised then summing to 1; a constant map is uniform."""
    mass = np.where(maps.constant, 1.0, maps.totals - maps.low * maps.pixels)
    scaled = maps.values - _per_map(maps.low, maps.dtype)
    scaled *= _per_map(1 / mass, maps.dtype)
    scaled[maps.constant] = 1 / maps.pixels
    return scaled


def _ratio_or_nan(numerator: np.ndarray, denominator: np.ndarray, undefined: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where `undefined` (a constant map: no correlation, no z-score)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(undefined, np.nan, numerator / denominator)


# ---------------------------------------------------------------- density-based metrics


def _pcc(maps: _Maps, gaze: _Gaze) -> np.ndarray:
    target, target_norm = gaze.centred
    return _ratio_or_nan(_row_dot(maps.centred, target), maps.norms * target_norm, maps.constant | gaze.constant)


def _sim(maps: _Maps, gaze: _Gaze) -> np.ndarray:
    overlap = _sim_densities(maps)
    np.minimum(overlap, gaze.sim_density, out=overlap)
    return overlap.sum(axis=2).sum(axis=1, dtype=np.float64)


def _kld(maps: _Maps, gaze: _Gaze) -> np.ndarray:
    if (maps.low < 0).any():
        raise MapShapeError("KLD needs non-negative saliency maps (shift or clip them first)")
    # sum g log(eps + g / (p + eps)) = sum g log g - sum g log(p + eps), with p = s / sum(s): the
    # `eps +` in front of MIT's ratio only changes pixels where g is (nearly) 0, which add 0.
    empty = maps.totals == 0
    logs = maps.values * _per_map(1 / np.where(empty, 1.0, maps.totals), maps.dtype)
    logs[empty] = 1 / maps.pixels  # an all-zero map counts as uniform
    logs += MATLAB_EPS
    np.log(logs, out=logs)
    # identical maps give 0 up to rounding (e.g. -3.5e-13): clip below at the true minimum, 0
    return np.maximum(gaze.entropy_term - _row_dot(logs, gaze.probability), 0.0)


def _spearman(maps: _Maps, gaze: _Gaze) -> np.ndarray:
    ranks = stats.rankdata(maps.values.reshape(len(maps.values), -1), axis=1)
    ranked = _Maps(ranks.reshape(maps.values.shape).astype(maps.dtype))
    target, target_norm = gaze.ranks
    undefined = maps.constant | gaze.constant
    return _ratio_or_nan(_row_dot(ranked.centred, target), ranked.norms * target_norm, undefined)


def _ssim(maps: _Maps, gaze: _Gaze) -> np.ndarray:
    height, width = gaze.shape
    if min(height, width) < 11:
        raise MapShapeError(f"SSIM needs maps of at least 11x11 pixels (its window), got {height}x{width}")
    x = maps.flat_min_max.reshape(maps.values.shape)
    y = gaze.min_max

    def blur(image: np.ndarray) -> np.ndarray:
        sigma = (0, 1.5, 1.5) if image.ndim == 3 else 1.5
        return ndimage.gaussian_filter(image, sigma=sigma, truncate=3.5, mode="reflect")

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x * mu_x
    var_y = blur(y * y) - mu_y * mu_y
    cov = blur(x * y) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    pad = 5  # skimage crops (win_size - 1) // 2, win_size = 2 * int(3.5 * 1.5 + 0.5) + 1 = 11
    return index[:, pad:height - pad, pad:width - pad].mean(axis=(1, 2), dtype=np.float64)


def pcc(saliency_map: np.ndarray, gaze: np.ndarray) -> Score:
    """Pearson's linear correlation coefficient (MIT `CC`) with a gaze density; in [-1, 1]."""
    density = _Gaze(gaze, work_dtype(saliency_map))
    return _score(partial(_pcc, gaze=density), saliency_map, density.shape)


def sim(saliency_map: np.ndarray, gaze: np.ndarray) -> Score:
    """Similarity (histogram intersection, MIT `similarity`) with a gaze density; in [0, 1].

    Both maps are min-max normalised, then scaled to sum to 1, as in the MIT code; pysaliency
    only shifts maps with negative values and skips the min-max step, so its SIM differs for
    maps whose minimum is above zero. An all-zero gaze map (no fixation) is refused with a
    MapShapeError (pysaliency reads it as uniform): there is nothing to compare with.
    """
    density = _Gaze(gaze, work_dtype(saliency_map))
    return _score(partial(_sim, gaze=density), saliency_map, density.shape)


def kld(saliency_map: np.ndarray, gaze: np.ndarray) -> Score:
    """KL divergence of the gaze density from the map (MIT `KLdiv`); >= 0, lower is better.

    `sum(g * log(eps + g / (s + eps)))`, both maps scaled to sum to 1 (no min-max step),
    eps = 2.2204e-16 as in MATLAB; pysaliency's `MIT_KLDiv` is the same, its default
    `image_based_kl_divergence` adds 1e-20 to the maps and no epsilon. Maps must be >= 0.
    Rounding can leave about -1e-13 for identical maps; results are clipped at 0. An all-zero
    gaze map (no fixation) is refused with a MapShapeError (pysaliency reads it as uniform).
    """
    density = _Gaze(gaze, work_dtype(saliency_map))
    return _score(partial(_kld, gaze=density), saliency_map, density.shape)


def spearman(saliency_map: np.ndarray, gaze: np.ndarray) -> Score:
    """Spearman's rank correlation with a gaze density (Pearson on average ranks); in [-1, 1].

    Not part of the MIT benchmark; equals `scipy.stats.spearmanr` on the flattened maps.
    """
    density = _Gaze(gaze, work_dtype(saliency_map))
    return _score(partial(_spearman, gaze=density), saliency_map, density.shape)


def ssim(saliency_map: np.ndarray, gaze: np.ndarray) -> Score:
    """Mean structural similarity (Wang et al. 2004) with a gaze density; in [-1, 1].

    Both maps min-max normalised to [0, 1] (data range 1); Gaussian window sigma 1.5 truncated
    at 3.5 sigma, K1 = 0.01, K2 = 0.03, population covariances, 5-pixel border left out of the
    mean: `skimage.metrics.structural_similarity(gaussian_weights=True, data_range=1)`.
    Not part of the MIT benchmark.
    """
    density = _Gaze(gaze, work_dtype(saliency_map))
    return _score(partial(_ssim, gaze=density), saliency_map, density.shape)


# ---------------------------------------------------------------- fixation-based metrics


def _nss(maps: _Maps, fixations: _Fixations) -> np.ndarray:
    std = maps.norms / np.sqrt(maps.pixels - 1)
    at_fixations = maps.centred.reshape(len(maps.values), -1)[:, fixations.index]
    return _ratio_or_nan(at_fixations.mean(axis=1, dtype=np.float64), std, maps.constant)


def _auc_judd(maps: _Maps, fixations: _Fixations) -> np.ndarray:
    flat = maps.values.reshape(len(maps.values), -1)
    is_negative = np.ones(flat.shape[1], dtype=bool)
    is_negative[fixations.index] = False
    scores = []
    for row in flat:  # one sort per map dominates the cost
        positives = np.sort(row[fixations.index])
        negatives = np.sort(row[is_negative])
        thresholds = np.unique(positives)[::-1]
        hits = (positives.size - np.searchsorted(positives, thresholds)) / positives.size
        false_alarms = (negatives.size - np.searchsorted(negatives, thresholds)) / negatives.size
        scores.append(_area(false_alarms, hits))
    return np.array(scores)


def _split_aucs(maps: _Maps, positives: np.ndarray, negatives: np.ndarray, step: float) -> np.ndarray:
    """Mean over splits of the AUC of values at `positives` `(F,)` vs `negatives` `(S, M)` indices."""
    scores = []
    for row in maps.flat_min_max:
        hit_values, false_values = row[positives], row[negatives]
        top = max(hit_values.max(), false_values.max())
        thresholds = _thresholds(top, step)
        hits = (hit_values[None, :] >= thresholds[:, None]).mean(axis=1)  # (T,)
        false_alarms = (false_values[:, None, :] >= thresholds[None, :, None]).mean(axis=2)  # (S, T)
        scores.append(np.mean([_area(split, hits) for split in false_alarms]))
    return np.array(scores)


def _thresholds(top: float, step: float) -> np.ndarray:
    """0:step:top, descending, each k * step computed as k * numerator / denominator of step as a
    fraction (0.1 = 1/10), so 3 * 0.1 is 0.3 exactly and a pixel of 0.3 counts as >= 0.3."""
    fraction = Fraction(step).limit_denominator(1_000_000)
    count = int(np.floor(top * fraction.denominator / fraction.numerator + 1e-9))
    return np.arange(count, -1, -1) * fraction.numerator / fraction.denominator


def _area(false_alarms: np.ndarray, hits: np.ndarray) -> float:
    """Trapezoid area under the ROC through (0, 0), the given points and (1, 1)."""
    return float(np.trapezoid(np.r_[0.0, hits, 1.0], np.r_[0.0, false_alarms, 1.0]))


def _borji_draws(fixations: _Fixations, n_splits: int, seed: int) -> np.ndarray:
    """`(n_splits, F)` pixel indices drawn uniformly with replacement."""
    pixels = fixations.shape[0] * fixations.shape[1]
    return np.random.default_rng(seed).integers(0, pixels, size=(n_splits, fixations.index.size))


def _shuffled_draws(fixations: _Fixations, other: _Fixations, n_splits: int, seed: int) -> np.ndarray:
    """`(n_splits, min(F, #other))` indices of other images' fixations, without replacement."""
    if other.shape != fixations.shape:
        raise MapShapeError(f"other_fixations has shape {other.shape}, the fixation map {fixations.shape}")
    rng = np.random.default_rng(seed)
    count = min(fixations.index.size, other.index.size)
    return np.stack([rng.permutation(other.index)[:count] for _ in range(n_splits)])


def nss(saliency_map: np.ndarray, fixations: np.ndarray) -> Score:
    """Normalised scanpath saliency: mean z-scored map value at fixated pixels (MIT `NSS`).

    z-scores use the sample standard deviation (ddof=1, MATLAB's `std`); pysaliency uses
    ddof=0, a relative difference of 1 / (2 N) for N pixels. Each fixated pixel counts once.
    """
    fix = _Fixations(fixations)
    return _score(partial(_nss, fixations=fix), saliency_map, fix.shape)


def auc_judd(saliency_map: np.ndarray, fixations: np.ndarray) -> Score:
    """AUC-Judd: ROC of fixated vs all other pixels, thresholds at the fixated values; in [0, 1].

    The MIT code adds random jitter of 1e-7 to break ties and counts true positives by rank;
    here ties are counted exactly (every pixel >= threshold), which gives the MIT value when
    there are no ties and 0.5 for a constant map. pysaliency's default `AUC` uses every pixel
    value as a threshold and all pixels as negatives.
    """
    fix = _Fixations(fixations)
    return _score(partial(_auc_judd, fixations=fix), saliency_map, fix.shape)


def auc_borji(
    saliency_map: np.ndarray, fixations: np.ndarray, n_splits: int = 100, step: float = 0.1, seed: int = 0
) -> Score:
    """AUC-Borji: fixated values vs as many uniformly drawn pixels, mean over `n_splits` draws.

    As the MIT code: map min-max normalised, pixels drawn with replacement, thresholds
    0:step:max; `seed` makes the draws reproducible (MIT uses MATLAB's global random state).
    """
    fix = _Fixations(fixations)
    draws = _borji_draws(fix, n_splits, seed)
    return _score(partial(_split_aucs, positives=fix.index, negatives=draws, step=step), saliency_map, fix.shape)


def sauc(
    saliency_map: np.ndarray,
    fixations: np.ndarray,
    other_fixations: np.ndarray,
    n_splits: int = 100,
    step: float = 0.1,
    seed: int = 0,
) -> Score:
    """Shuffled AUC: fixated values vs values at other images' fixations (MIT `AUC_shuffled`).

    `other_fixations` `(H, W)`: other images' fixations on this image's grid. Each split draws
    min(F, #other) of them without replacement; thresholds 0:step:max on the min-max normalised
    map; mean over `n_splits`. `seed` makes the draws reproducible.
    """
    fix = _Fixations(fixations)
    draws = _shuffled_draws(fix, _Fixations(other_fixations, "other fixation map"), n_splits, seed)
    return _score(partial(_split_aucs, positives=fix.index, negatives=draws, step=step), saliency_map, fix.shape)


def _score(scorer: Callable[[_Maps], np.ndarray], saliency_map: np.ndarray, shape: tuple[int, int]) -> Score:
    """Score one map `(h, w)` (a float back) or a batch `(B, h, w)` (`(B,)` back) resized to `shape`."""
    maps = np.asarray(saliency_map)
    if maps.ndim not in (2, 3) or min(maps.shape) == 0:
        raise MapShapeError(f"saliency maps must be (h, w) or (B, h, w), got shape {maps.shape}")
    single = maps.ndim == 2
    scores = np.asarray(scorer(_Maps(resize_bilinear(maps[None] if single else maps, shape))))
    return float(scores[0]) if single else scores.astype(np.float64)


# ---------------------------------------------------------------- baselines, information gain, EMD

CENTRE_SIGMA = 0.25  # of the image's width (x) and height (y): a symmetric Gaussian stretched to the image
EMD_DOWNSAMPLE = 32  # the MIT code's imresize(fixationMap, 1/32) before the EMD


def centre_bias(shape: tuple[int, int], sigma: float = CENTRE_SIGMA) -> np.ndarray:
    """The MIT benchmark's centre baseline: a symmetric Gaussian stretched to the image's aspect ratio.

    `(H, W)` float64 summing to 1: exp(-((x - cx)^2 / (sigma W)^2 + (y - cy)^2 / (sigma H)^2) / 2)
    around the image centre (cx = (W - 1) / 2 in pixel-centre coordinates). The benchmark does not
    publish its width; sigma = 0.25 of each side here.
    """
    height, width = shape
    if min(height, width) < 1 or not sigma > 0:
        raise MapShapeError(f"centre_bias needs a positive shape and sigma, got {shape}, {sigma}")
    rows = np.exp(-0.5 * ((np.arange(height) - (height - 1) / 2) / (sigma * height)) ** 2)
    cols = np.exp(-0.5 * ((np.arange(width) - (width - 1) / 2) / (sigma * width)) ** 2)
    bias = np.outer(rows, cols)
    return bias / bias.sum()


def shuffled_fixations(
    others: Sequence[tuple[np.ndarray, tuple[int, int]]], shape: tuple[int, int]
) -> np.ndarray:
    """Other images' fixations on a `shape` (H, W) grid, for `sauc`: `(H, W)` bool.

    others: (points `(N, 2)` as (x, y) in pixels, that image's (H, W)) per other image; points are
    scaled to `shape` (pixel centres aligned, x by W / W_other, y likewise) and rounded.
    """
    fixated = np.zeros(shape, dtype=bool)
    for points, (height, width) in others:
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        cols = np.clip(np.rint((points[:, 0] + 0.5) * shape[1] / width - 0.5), 0, shape[1] - 1).astype(int)
        rows = np.clip(np.rint((points[:, 1] + 0.5) * shape[0] / height - 0.5), 0, shape[0] - 1).astype(int)
        fixated[rows, cols] = True
    return fixated


def _probabilities(flat_min_max: np.ndarray) -> np.ndarray:
    """`(B, N)` min-max scaled maps as float64 distributions; a constant (all-zero) row is uniform."""
    flat = flat_min_max.astype(np.float64)
    totals = flat.sum(axis=1, keepdims=True)
    return np.where(totals > 0, flat / np.where(totals > 0, totals, 1.0), 1.0 / flat.shape[1])


def _ig(maps: _Maps, fixations: _Fixations, baseline: np.ndarray) -> np.ndarray:
    """Mean over fixated pixels of log2(eps + p) - log2(eps + b); `baseline` `(H*W,)` a distribution."""
    p = _probabilities(maps.flat_min_max)[:, fixations.index]
    b = baseline[fixations.index]
    return np.mean(np.log2(MATLAB_EPS + p) - np.log2(MATLAB_EPS + b)[None, :], axis=1)


def _baseline_distribution(baseline: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A baseline map resized to `shape`, min-max scaled and summing to 1, flat `(H*W,)` float64."""
    baseline = np.asarray(baseline, dtype=np.float64)
    if baseline.ndim != 2 or not np.isfinite(baseline).all():
        raise MapShapeError(f"the baseline must be one finite (h, w) map, got shape {baseline.shape}")
    return _probabilities(_Maps(resize_bilinear(baseline[None], shape)).flat_min_max)[0]


def information_gain(saliency_map: np.ndarray, fixations: np.ndarray, baseline: np.ndarray) -> Score:
    """Information gain of the map over `baseline` (e.g. `centre_bias`), in bits per fixation.

    As the MIT code's `InfoGain` (after Kümmerer et al., PNAS 2015): both maps resized to the
    fixation map, min-max scaled, divided by their sums, then the mean over fixated pixels of
    log2(eps + p) - log2(eps + b), eps = 2.2204e-16. > 0: the map predicts the fixations better.
    A constant map counts as uniform (the MIT code gives NaN); each fixated pixel counts once.
    """
    fix = _Fixations(fixations)
    distribution = _baseline_distribution(baseline, fix.shape)
    return _score(partial(_ig, fixations=fix, baseline=distribution), saliency_map, fix.shape)


def _area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """`(size_out, size_in)` weights averaging the input pixels each output pixel covers (area resize)."""
    edges = np.linspace(0, size_in, size_out + 1)
    starts, ends = np.arange(size_in), np.arange(size_in) + 1
    overlap = np.minimum(ends[None, :], edges[1:, None]) - np.maximum(starts[None, :], edges[:-1, None])
    overlap = np.clip(overlap, 0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def downsample(maps: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """`(B, H, W)` maps averaged over blocks to `(B, h, w)` float64 (area resize, no aliasing)."""
    maps = np.asarray(maps, dtype=np.float64)
    rows = _area_matrix(maps.shape[-2], shape[0])
    cols = _area_matrix(maps.shape[-1], shape[1])
    return rows @ maps @ cols.T


def transport_cost(p: np.ndarray, q: np.ndarray) -> float:
    """Earth mover's distance between two distributions `(h, w)` on the same grid (each summing to 1),
    ground distance Euclidean in pixels: `ot.emd2` (POT's exact network simplex)."""
    import ot

    rows, cols = np.indices(p.shape)
    grid = np.column_stack([rows.ravel(), cols.ravel()]).astype(np.float64)
    cost = ot.dist(grid, grid, metric="euclidean")
    return float(ot.emd2(p.ravel(), q.ravel(), cost, numItermax=10_000_000))


def _emd(maps: _Maps, gaze: _Gaze, factor: int) -> np.ndarray:
    from skimage.exposure import match_histograms

    shape = (-(-gaze.shape[0] // factor), -(-gaze.shape[1] // factor))  # ceil, as MATLAB's imresize
    target = downsample(gaze.density[None], shape)[0]
    target /= target.sum()
    scores = []
    for small in downsample(maps.values, shape):
        matched = np.clip(match_histograms(small, target), 0, None)  # the MIT code's histMatchMaps
        total = matched.sum()
        matched = matched / total if total > 0 else np.full(shape, 1.0 / matched.size)
        scores.append(transport_cost(target, matched))
    return np.array(scores)


def emd(saliency_map: np.ndarray, gaze: np.ndarray, factor: int = EMD_DOWNSAMPLE) -> Score:
    """Earth mover's distance to a gaze density (MIT `EMD`), in pixels of the downsampled grid; >= 0,
    lower is better.

    As the MIT code: both maps shrunk by `factor` (here by area averaging; MATLAB's imresize
    filters bicubically), the map's values matched to the density's histogram (here exact
    quantile matching, skimage's `match_histograms`; MATLAB matches 256 bins), both scaled to
    sum to 1, then the transport cost with Euclidean ground distance (POT instead of FastEMD;
    equal masses, so FastEMD's extra-mass penalty plays no part).
    """
    density = _Gaze(gaze, work_dtype(saliency_map))
    return _score(partial(_emd, gaze=density, factor=factor), saliency_map, density.shape)


# ---------------------------------------------------------------- entry point

DENSITY_METRICS = {"pcc": _pcc, "sim": _sim, "kld": _kld, "spearman": _spearman, "ssim": _ssim,
                   "emd": partial(_emd, factor=EMD_DOWNSAMPLE)}
FIXATION_METRICS = ("nss", "auc_judd", "auc_borji", "sauc", "ig")
LOWER_IS_BETTER = ("kld", "emd")
METRICS = (*DENSITY_METRICS, *FIXATION_METRICS)


def score_maps(
    maps: np.ndarray,
    density: np.ndarray | None = None,
    fixations: np.ndarray | None = None,
    metrics: Sequence[str] = ("pcc", "sim", "kld"),
    other_fixations: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
    seed: int = 0,
    chunk_size: int = 8,
    workers: int | None = None,
) -> pd.DataFrame:
    """Score maps `(B, h, w)` against one gaze map: B rows, one float64 column per metric.

    density `(H, W)` serves pcc, sim, kld, spearman, ssim, emd; fixations `(H, W)` (nonzero =
    fixated) serves nss, auc_judd, auc_borji, with other_fixations sauc, and with a baseline
    map (e.g. `centre_bias`) ig. Maps are scored
    `chunk_size` at a time on `workers` threads (all cores by default); the random draws of
    the AUCs come from `seed` and are the same for every map.
    """
    unknown = [name for name in metrics if name not in METRICS]
    if unknown or not metrics:
        raise AnalysisError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
    maps = np.asarray(maps)
    if maps.ndim != 3 or min(maps.shape) == 0:
        raise MapShapeError(f"maps must be a batch (B, h, w), got shape {maps.shape}")
    gaze = fix = None
    if any(name in DENSITY_METRICS for name in metrics):
        if density is None:
            raise AnalysisError("pcc, sim, kld, spearman, ssim and emd need a gaze density")
        gaze = _Gaze(density, work_dtype(maps))
    if any(name in FIXATION_METRICS for name in metrics):
        if fixations is None:
            raise AnalysisError("nss and the AUC metrics need a fixation map")
        fix = _Fixations(fixations)
    if gaze is not None and fix is not None and gaze.shape != fix.shape:
        raise MapShapeError(f"density {gaze.shape} and fixations {fix.shape} differ in shape")
    if "sauc" in metrics and other_fixations is None:
        raise AnalysisError("sauc needs other_fixations (other images' fixations)")
    if "ig" in metrics and baseline is None:
        raise AnalysisError("ig needs a baseline map (e.g. analysis.saliency.centre_bias)")
    scorers: dict[str, Callable[[_Maps], np.ndarray]] = {}
    for name in metrics:
        if name in DENSITY_METRICS:
            scorers[name] = partial(DENSITY_METRICS[name], gaze=gaze)
        elif name == "nss":
            scorers[name] = partial(_nss, fixations=fix)
        elif name == "auc_judd":
            scorers[name] = partial(_auc_judd, fixations=fix)
        elif name == "ig":
            scorers[name] = partial(_ig, fixations=fix, baseline=_baseline_distribution(baseline, fix.shape))
        elif name == "auc_borji":
            scorers[name] = partial(_split_aucs, positives=fix.index, negatives=_borji_draws(fix, 100, seed), step=0.1)
        else:
            draws = _shuffled_draws(fix, _Fixations(other_fixations, "other fixation map"), 100, seed)
            scorers[name] = partial(_split_aucs, positives=fix.index, negatives=draws, step=0.1)
    shape = gaze.shape if gaze is not None else fix.shape

    def score_chunk(start: int) -> dict[str, np.ndarray]:
        chunk = _Maps(resize_bilinear(maps[start:start + chunk_size], shape))
        return {name: scorer(chunk) for name, scorer in scorers.items()}

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        parts = list(pool.map(score_chunk, range(0, len(maps), chunk_size)))
    return pd.DataFrame({name: np.concatenate([part[name] for part in parts]) for name in metrics})
