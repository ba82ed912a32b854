"""Reference rows for a gaze comparison: the centre-bias baseline and the inter-observer ceiling.

- centre bias: `saliency.centre_bias` scored like any explanation map (IG over it is 0 by
  definition);
- inter-observer ceiling (leave one observer out): for each observer, the GFDM of everyone
  else's fixations (same sigma) is scored against that observer's own fixations and GFDM; the
  stimulus' score is the mean over observers. How well humans predict a human: the ceiling a
  map can hope for.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.gfdm import density_from_fixations, fixation_map
from analysis.saliency import centre_bias, score_maps

CENTRE_BIAS = "centre bias"
INTER_OBSERVER = "inter-observer (leave one out)"


def centre_bias_scores(
    shape: tuple[int, int],
    metrics: Sequence[str],
    density: np.ndarray | None = None,
    fixations: np.ndarray | None = None,
    other_fixations: np.ndarray | None = None,
) -> dict[str, float]:
    """Scores of the centre-bias map on one stimulus of `shape` (H, W): metric -> float."""
    bias = centre_bias(shape)
    frame = score_maps(bias[None], density, fixations, metrics, other_fixations=other_fixations,
                       baseline=bias, workers=1)
    return frame.iloc[0].to_dict()


def inter_observer_scores(
    points: np.ndarray,
    observers: np.ndarray,
    shape: tuple[int, int],
    sigma_px: float,
    metrics: Sequence[str],
    other_fixations: np.ndarray | None = None,
) -> dict[str, float]:
    """Mean over observers of the leave-one-out scores on one stimulus: metric -> float.

    points `(N, 2)` as (x, y), observers `(N,)` ids; needs at least two observers. Density
    metrics compare with the held-out observer's GFDM, fixation metrics with their fixations;
    IG is over the centre bias.
    """
    observers = np.asarray(observers).astype(str)
    ids = [name for name in dict.fromkeys(observers) if name]
    if len(ids) < 2:
        raise AnalysisError(f"the inter-observer ceiling needs fixations of two observers, got {len(ids)}")
    bias = centre_bias(shape)
    rows = []
    for held_out in ids:
        mine = observers == held_out
        others = density_from_fixations(points[~mine], shape, sigma_px)
        frame = score_maps(
            others[None], density_from_fixations(points[mine], shape, sigma_px),
            fixation_map(points[mine], shape), metrics, other_fixations=other_fixations, baseline=bias,
            workers=1,
        )
        rows.append(frame.iloc[0])
    return pd.DataFrame(rows).mean().to_dict()
