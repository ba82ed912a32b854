"""Two sets of GFDMs of the same images compared, e.g. BubbleView clicks against eye-tracking fixations.

Per image, the first set's map is scored against the second's with analysis.saliency (the second is the
reference: KLD(reference || first), EMD moves the first onto it); the table is analysis.reports'
gaze table, one row, mean ± SD (ddof=1) and n per metric.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.reports import format_gaze_table, gaze_table
from analysis.saliency import DENSITY_METRICS, score_maps

COMPARE_METRICS = ("pcc", "sim", "kld", "emd")


def compare_gfdms(
    first: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray],
    metrics: Sequence[str] = COMPARE_METRICS, label: str = "first vs reference",
) -> pd.DataFrame:
    """Scores of each image both sets hold: columns image, method (= `label`), one per metric.

    Maps `(H, W)` >= 0 by image name; a first map of another size is resized bilinearly to its
    reference (saliency.score_maps). Only density metrics: a GFDM carries no fixation points."""
    unknown = [m for m in metrics if m not in DENSITY_METRICS]
    if unknown or not metrics:
        raise AnalysisError(f"compare density metrics only, from {list(DENSITY_METRICS)}; "
                            f"got {list(metrics)}")
    images = sorted(set(first) & set(reference))
    if not images:
        raise AnalysisError("the two sets of maps share no image name")
    rows = []
    for image in images:
        scores = score_maps(np.asarray(first[image])[None], np.asarray(reference[image]), metrics=metrics,
                            workers=1)
        rows.append({"image": image, "method": label, **scores.iloc[0].to_dict()})
    return pd.DataFrame(rows, columns=["image", "method", *metrics])


def comparison_table(scores: pd.DataFrame, metrics: Sequence[str] = COMPARE_METRICS) -> pd.DataFrame:
    """`compare_gfdms`' scores as the review's table: Method, "mean ± SD (n=...)" per metric, n."""
    return format_gaze_table(gaze_table(scores, metrics), metrics)
