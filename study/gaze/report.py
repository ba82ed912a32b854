"""Compare explanation maps with a gaze data set's GFDMs: per-image scores, the per-method table
(mean +- SD and n per cell, the JEI 2021 review's format) with baseline rows, paired Wilcoxon
tests between methods (Holm, from 6 images), figures and one HTML report.

Maps come from the explainer cache (`explainers.precompute`, targets: each stimulus' top-1
class), so a second report over the same stimuli and model recomputes no map. Each map is scored
with `analysis.saliency`: PCC, SIM, KLD and EMD against the stimulus' GFDM; NSS, AUC-Judd, IG over
the centre bias and, with other stimuli's fixations, sAUC where the stimulus has fixations. The
baselines (`analysis.baselines`): the centre bias on every stimulus and, where fixations carry
observer ids, the leave-one-observer-out ceiling. `analysis.reports` writes the tables, figures and
report.html. The last report is kept on the data set (`GazeDataset.last_report`: scores, the
table and map previews in MEDIA_ROOT), which the researcher pages read.
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
from analysis import baselines
from analysis.errors import AnalysisError
from analysis.gaze_figures import PanelRow
from analysis.gfdm import fixation_map, sigma_from_ppd
from analysis.reports import format_gaze_table, gaze_table, paired_tests, write_gaze_report, write_text
from analysis.saliency import centre_bias, score_maps, shuffled_fixations
from explainers.precompute import CACHEABLE, precompute
from study.models import GazeDataset
from study.progress import Report, silent
from study.gaze.maps import preview_png

DENSITY_METRICS = ("pcc", "sim", "kld", "emd")
FIXATION_METRICS = ("nss", "auc_judd", "sauc", "ig")
BASELINES = (baselines.CENTRE_BIAS, baselines.INTER_OBSERVER)
PANEL_STIMULI = 4  # rows of the per-stimulus figure (stimuli with fixations first)
PANEL_WIDTH = 256  # pixels of each image in it


class GazeReportError(Exception):
    """The report cannot be made: unknown data set, method, model or device, or an unusable map."""


@dataclass(frozen=True)
class GazeReport:
    scores: pd.DataFrame  # one row per stimulus and method: image, target, method, one column per metric
    table: pd.DataFrame  # the review's format: Method, "mean ± SD" per metric, n
    tests: pd.DataFrame  # analysis.reports.paired_tests between methods: metric, method_a, method_b, n, ...
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
    report: Report = silent,
) -> GazeReport:
    """Explain every stimulus with a GFDM with each method, score the maps and the baselines against
    the gaze data and write per_image.csv, gaze_table.{csv,md,tex}, paired_tests.csv, mean_ranks.csv,
    the figures and report.html into `out_dir`. `report` hears each stage as it starts (done = 0), each
    batch explained and each stimulus scored."""
    started = time.perf_counter()
    rows = [
        row
        for row in dataset.stimuli.select_related("gaze_map", "fixations").order_by("name")
        if hasattr(row, "gaze_map")
    ]
    if not rows:
        raise GazeReportError(f"data set {dataset.name} has no stimuli with a GFDM to compare with")
    report(0, len(rows), "explaining the stimuli")
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
            on_batch=lambda done, total: report(done, total, "explaining the stimuli"),
        )
    except explainers.ExplainerError as error:
        raise GazeReportError(str(error)) from error
    metrics = [*DENSITY_METRICS, *(FIXATION_METRICS if any(hasattr(r, "fixations") for r in rows) else ())]
    fixations = {row.name: _fixations(row) for row in rows if hasattr(row, "fixations")}
    ppd = dataset.pixels_per_degree
    sigma = dataset.sigma_px or (sigma_from_ppd(ppd) if ppd else None)  # the ceiling's GFDMs
    panel_names = sorted((r.name for r in rows), key=lambda n: (n not in fixations, n))[:PANEL_STIMULI]

    report_id = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    media = Path(settings.MEDIA_ROOT)
    previews = f"gaze/{dataset.name}/reports/{report_id}"
    records, scores, maps_for, baseline_records, panel = [], {}, {}, [], []
    try:
        by_image = {}  # by the path this run asked for: a map may be stored under another data set's copy
        for entry in cached:
            by_image.setdefault(str(entry.image), {})[entry.method] = entry
        report(0, len(rows), "scoring the maps against the GFDMs")
        for done, row in enumerate(rows, 1):
            entries = by_image[str(row.image.path)]
            stack = np.stack([entries[method].load() for method in methods])  # (M, S, S) float32 in [0, 1]
            target = model.class_names[entries[methods[0]].target]
            scores[row.name], maps_for[row.name] = {}, {}
            with Image.open(row.gaze_map.preview.path) as preview:
                size = preview.size
            inputs = _inputs(row, fixations, metrics)
            baseline_records += _baseline_records(row, inputs, fixations, sigma, metrics)
            if row.name in panel_names:
                panel.append(_panel_row(row, inputs["density"], methods, stack))
            values_of = _score(row, stack, metrics, inputs).to_dict("records")
            for method, values, map_ in zip(methods, values_of, stack):
                records.append({"image": row.name, "target": target, "method": method, **values})
                scores[row.name][method] = {k: None if np.isnan(v) else float(v) for k, v in values.items()}
                relative = f"{previews}/{method}/{row.name}.png"
                _write_atomic(media / relative, preview_png(map_, size))
                maps_for[row.name][method] = relative
            report(done, len(rows), "scoring the maps against the GFDMs")
        report(len(rows), len(rows), "writing the tables, figures and report.html")
        per_image = pd.DataFrame.from_records(records + baseline_records)
        frame = per_image.drop(columns="target")  # what analysis.reports reads: method, image, metrics
        out = Path(out_dir)
        try:
            files = [
                *write_gaze_report(frame, out, metrics, baselines=BASELINES,
                                   panel=sorted(panel, key=lambda p: panel_names.index(p.name)),
                                   notes=_notes(rows, fixations, sigma, metrics)),
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
        "baselines": [name for name in BASELINES if name in set(frame["method"])],
    }
    dataset.save(update_fields=["last_report"])
    if old and old != previews:
        shutil.rmtree(media / old, ignore_errors=True)
    return GazeReport(
        per_image,
        table,
        paired_tests(frame[~frame["method"].isin(BASELINES)], metrics),
        tuple(files),
        time.perf_counter() - started,
    )


def _fixations(row) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The stored fixations of a stimulus: points `(N, 2)` as (x, y), observer ids `(N,)`, (H, W)."""
    with row.fixations.array.open("rb") as f:
        stored = np.load(f, allow_pickle=False)
        points = np.column_stack([stored["x"], stored["y"]])
        return points, stored["observer"].astype(str), (row.height, row.width)


def _inputs(row, fixations: dict, metrics: Sequence[str]) -> dict:
    """What the metrics need on one stimulus: its GFDM, its fixation map, other stimuli's fixations
    on its grid (sAUC; None without any) and which metrics these inputs allow."""
    with row.gaze_map.array.open("rb") as f:
        density = np.load(f, allow_pickle=False)
    fixated = others = None
    if row.name in fixations:
        fixated = fixation_map(fixations[row.name][0], density.shape)
        rest = [(points, shape) for name, (points, _, shape) in fixations.items() if name != row.name]
        others = shuffled_fixations(rest, density.shape) if rest else None
    wanted = [m for m in metrics
              if m in DENSITY_METRICS or (fixated is not None and (m != "sauc" or others is not None))]
    return {"density": density, "fixated": fixated, "others": others, "wanted": wanted}


def _score(row, maps: np.ndarray, metrics: Sequence[str], inputs: dict) -> pd.DataFrame:
    """Scores `(M, len(metrics))` of maps `(M, S, S)` against the stimulus' GFDM and fixations (NaN
    where a metric's input is missing)."""
    density = inputs["density"]
    try:
        table = score_maps(maps, density=density, fixations=inputs["fixated"], metrics=inputs["wanted"],
                           other_fixations=inputs["others"], baseline=centre_bias(density.shape), workers=1)
    except AnalysisError as error:
        raise GazeReportError(f"{row.name}: {error}") from error
    return table.reindex(columns=list(metrics))


def _baseline_records(
    row, inputs: dict, fixations: dict, sigma: float | None, metrics: Sequence[str]
) -> list[dict]:
    """The centre-bias row of a stimulus and, with two or more observers and a sigma, its ceiling row."""
    density, wanted = inputs["density"], inputs["wanted"]
    try:
        rows = [(baselines.CENTRE_BIAS, baselines.centre_bias_scores(
            density.shape, wanted, density, inputs["fixated"], inputs["others"]))]
        if row.name in fixations and sigma is not None:
            points, observers, _ = fixations[row.name]
            if len({o for o in observers if o}) >= 2:
                ceiling = baselines.inter_observer_scores(points, observers, density.shape, sigma, wanted,
                                                          inputs["others"])
                rows.append((baselines.INTER_OBSERVER, ceiling))
    except AnalysisError as error:
        raise GazeReportError(f"{row.name}: {error}") from error
    return [{"image": row.name, "target": "", "method": name, **{m: values.get(m, np.nan) for m in metrics}}
            for name, values in rows]


def _panel_row(row, density: np.ndarray, methods: Sequence[str], stack: np.ndarray) -> PanelRow:
    """The stimulus, its GFDM and the methods' maps, shrunk to PANEL_WIDTH pixels wide."""
    size = (PANEL_WIDTH, max(1, round(PANEL_WIDTH * row.height / row.width)))
    with Image.open(row.image.path) as image:
        picture = np.asarray(image.convert("RGB").resize(size, Image.BILINEAR))
    gfdm = np.asarray(Image.fromarray(density.astype(np.float32), mode="F").resize(size, Image.BILINEAR))
    return PanelRow(row.name, picture, gfdm, dict(zip(methods, stack)))


def _notes(rows: list, fixations: dict, sigma: float | None, metrics: Sequence[str]) -> list[str]:
    """What the reader of report.html needs to know about the inputs behind each cell."""
    notes = [
        f"{len(rows)} stimuli with a GFDM (PCC, SIM, KLD, EMD); {len(fixations)} with fixation points "
        "(NSS, AUC-Judd, IG, sAUC). Each cell gives its own n. EMD on maps downsampled 32x (MIT), in "
        "downsampled pixels; IG in bits per fixation over the centre-bias baseline (Kummerer et al.).",
    ]
    if "sauc" in metrics and len(fixations) < 2:
        notes.append("sAUC needs fixations on at least two stimuli (other stimuli's fixations are its "
                     "negatives): not computed.")
    with_observers = [name for name, (_, observers, _) in fixations.items()
                      if len({o for o in observers if o}) >= 2]
    if not with_observers:
        notes.append("Inter-observer ceiling: no stimulus has fixations of two or more identified observers.")
    elif sigma is None:
        notes.append("Inter-observer ceiling: the data set has neither sigma_px nor pixels_per_degree.")
    return notes


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
