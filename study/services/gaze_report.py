"""Compare explanation maps with a gaze data set's GFDMs: per-image scores, the per-method table
(mean +- SD, the JEI 2021 review's format) and paired Wilcoxon tests between methods (Holm).

Maps come from the explainer cache (`explainers.precompute`, targets: each stimulus' top-1
class), so a second report over the same stimuli and model recomputes no map. Each map is scored
against the stimulus' GFDM with `analysis.saliency` (PCC, SIM, KLD; NSS and AUC-Judd where the
stimulus has fixations); `analysis.reports` writes the tables. The last report is kept on the
data set (`GazeDataset.last_report`: scores, the table and map previews in MEDIA_ROOT), which
the researcher pages read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils import timezone
from PIL import Image

import explainers
from analysis.errors import AnalysisError
from analysis.gfdm import fixation_map
from analysis.reports import format_gaze_table, gaze_table, paired_tests, write_gaze_report, write_text
from analysis.saliency import score_maps
from explainers.precompute import CACHEABLE, precompute
from study.models import GazeDataset
from study.services.gaze_import import preview_png

DENSITY_METRICS = ("pcc", "sim", "kld")
FIXATION_METRICS = ("nss", "auc_judd")


class GazeReportError(Exception):
    """The report cannot be made: unknown data set, method, model or device, or an unusable map."""


@dataclass(frozen=True)
class GazeReport:
    scores: pd.DataFrame  # one row per stimulus and method: image, target, method, one column per metric
    table: pd.DataFrame  # the review's format: Method, "mean ± SD" per metric, n
    tests: pd.DataFrame  # analysis.reports.paired_tests: metric, method_a, method_b, n, ..., pvalue_holm
    files: tuple[Path, ...]
    seconds: float


def parse_methods(text: str) -> list[str]:
    """'gradcam,gradcampp,fem,gradient' -> canonical names (explainers.methods); raises GazeReportError."""
    try:
        return explainers.parse_methods(text, allowed=CACHEABLE)
    except explainers.ExplainError as error:
        raise GazeReportError(f"methods must be distinct names of cacheable methods: {error}") from error


def gaze_report(
    dataset: GazeDataset,
    model_spec: str,
    methods: Sequence[str],
    out_dir: Path,
    *,
    device: str = "cpu",
    batch_size: int = 8,
    progress: bool = False,
) -> GazeReport:
    """Explain every stimulus with a GFDM with each method, score the maps against the GFDMs and
    write per_image.csv, gaze_table.{csv,md,tex} and paired_tests.csv into `out_dir`."""
    started = time.perf_counter()
    rows = [
        row
        for row in dataset.stimuli.select_related("gaze_map", "fixations").order_by("name")
        if hasattr(row, "gaze_map")
    ]
    if not rows:
        raise GazeReportError(f"data set {dataset.name} has no stimuli with a GFDM to compare with")
    try:
        model = explainers.load_model(model_spec)
        cached = precompute(
            model,
            [row.image.path for row in rows],
            methods,
            "predicted",
            batch_size,
            device,
            settings.EXPLAINER_CACHE_DIR,
            progress=progress,
        )
    except explainers.ExplainerError as error:
        raise GazeReportError(str(error)) from error
    metrics = [*DENSITY_METRICS, *(FIXATION_METRICS if any(hasattr(r, "fixations") for r in rows) else ())]

    report_id = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    media = Path(settings.MEDIA_ROOT)
    previews = f"gaze/{dataset.name}/reports/{report_id}"
    records, scores, maps_for = [], {}, {}
    try:
        by_image = {}
        for entry in cached:
            provenance = entry.provenance
            by_image.setdefault(provenance["image"], {})[provenance["method"]] = (
                entry,
                provenance["target_name"],
            )
        for row in rows:
            entries = by_image[str(row.image.path)]
            stack = np.stack([entries[method][0].load() for method in methods])  # (M, S, S) float32 in [0, 1]
            target = entries[methods[0]][1]
            scores[row.name], maps_for[row.name] = {}, {}
            with Image.open(row.gaze_map.preview.path) as preview:
                size = preview.size
            for method, values, map_ in zip(methods, _score(row, stack, metrics).to_dict("records"), stack):
                records.append({"image": row.name, "target": target, "method": method, **values})
                scores[row.name][method] = {k: None if np.isnan(v) else float(v) for k, v in values.items()}
                relative = f"{previews}/{method}/{row.name}.png"
                _write_atomic(media / relative, preview_png(map_, size))
                maps_for[row.name][method] = relative
        per_image = pd.DataFrame.from_records(records)
        frame = per_image.drop(columns="target")  # what analysis.reports reads: method, image, metrics
        out = Path(out_dir)
        try:
            files = [
                *write_gaze_report(frame, out, metrics),
                write_text(out / "per_image.csv", per_image.to_csv(index=False, float_format="%.6g")),
            ]
        except OSError as error:
            raise GazeReportError(f"cannot write the report into {out}: {error}") from error
    except BaseException:
        shutil.rmtree(media / previews, ignore_errors=True)
        raise
    table = format_gaze_table(gaze_table(frame, metrics), metrics)
    old = dataset.last_report.get("previews")
    dataset.last_report = {
        "created_at": timezone.now().isoformat(),
        "model": model.name,
        "weights_hash": model.weights_hash,
        "methods": list(methods),
        "metrics": metrics,
        "out": str(out.resolve()),
        "previews": previews,
        "scores": scores,
        "maps": maps_for,
        "table": table.to_dict("records"),
    }
    dataset.save(update_fields=["last_report"])
    if old and old != previews:
        shutil.rmtree(media / old, ignore_errors=True)
    return GazeReport(
        per_image,
        table,
        paired_tests(frame, metrics),
        tuple(files),
        time.perf_counter() - started,
    )


def _score(row, maps: np.ndarray, metrics: Sequence[str]) -> pd.DataFrame:
    """Scores `(M, len(metrics))` of maps `(M, S, S)` against the stimulus' GFDM and fixations."""
    with row.gaze_map.array.open("rb") as f:
        density = np.load(f, allow_pickle=False)
    fixated = None
    if hasattr(row, "fixations"):
        with row.fixations.array.open("rb") as f:
            stored = np.load(f, allow_pickle=False)
            fixated = fixation_map(np.column_stack([stored["x"], stored["y"]]), density.shape)
    wanted = [m for m in metrics if fixated is not None or m in DENSITY_METRICS]
    try:
        table = score_maps(maps, density=density, fixations=fixated, metrics=wanted, workers=1)
    except AnalysisError as error:
        raise GazeReportError(f"{row.name}: {error}") from error
    return table.reindex(columns=list(metrics))


def _write_atomic(path: Path, data: bytes) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
