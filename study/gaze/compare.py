"""Two gaze data sets' GFDMs compared on the stimuli they share by name (e.g. a study's clicks,
study.gaze.clicks, against an imported eye-tracking data set): analysis.gaze_compare's per-image
scores and table, written as CSV and Markdown."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.gaze_compare import compare_gfdms, comparison_table
from analysis.reports import to_markdown, write_text
from study.models import GazeDataset


def dataset_maps(dataset: GazeDataset) -> dict[str, np.ndarray]:
    """The GFDM `(H, W)` float32 of each stimulus of `dataset` that has one, by stimulus name."""
    maps = {}
    for row in dataset.stimuli.filter(gaze_map__isnull=False).select_related("gaze_map"):
        with row.gaze_map.array.open("rb") as f:
            maps[row.name] = np.load(f, allow_pickle=False)
    return maps


def compare_datasets(first: GazeDataset, reference: GazeDataset, out: Path | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image scores of `first`'s GFDMs against `reference`'s and their table (mean ± SD); with `out`,
    written there as compare_per_image.csv, compare_table.csv and compare_table.md.
    Raises analysis.errors.AnalysisError when they share no stimulus name."""
    scores = compare_gfdms(dataset_maps(first), dataset_maps(reference),
                           label=f"{first.name} vs {reference.name}")
    table = comparison_table(scores)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        scores.to_csv(out / "compare_per_image.csv", index=False)
        table.to_csv(out / "compare_table.csv", index=False)
        write_text(out / "compare_table.md", to_markdown(table) + "\n")
    return scores, table
