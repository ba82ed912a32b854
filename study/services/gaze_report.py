"""Compare explanation maps with a gaze data set's GFDMs: per-image scores, the per-method table
(mean +- SD, the JEI 2021 review's format) and paired Wilcoxon tests between methods (Holm).

Each stimulus is classified and explained for the model's top-1 class; every map is scored
against the stimulus' GFDM with `analysis.saliency` (PCC, SIM, KLD; NSS and AUC-Judd where the
stimulus has fixations). Results are written to files in an output folder (temp + rename) and
the last report is kept on the data set (`GazeDataset.last_report`: scores and map previews),
which the researcher pages read.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from django.conf import settings
from django.utils import timezone
from PIL import Image
from scipy import stats
from statsmodels.stats.multitest import multipletests
from tqdm import tqdm

import explainers
from analysis.errors import AnalysisError
from analysis.gfdm import fixation_map
from analysis.saliency import score_maps
from study.models import GazeDataset
from study.services.gaze_import import preview_png

METHOD_ALIASES = {"gradcampp": "gradcam++", "grad-cam": "gradcam", "grad-cam++": "gradcam++"}
DENSITY_METRICS = ("pcc", "sim", "kld")
FIXATION_METRICS = ("nss", "auc_judd")
METRIC_LABELS = {"pcc": "PCC", "sim": "SIM", "kld": "KLD", "nss": "NSS", "auc_judd": "AUC-Judd"}


class GazeReportError(Exception):
    """The report cannot be made: unknown data set, method, model or device, or an unusable map."""


@dataclass(frozen=True)
class GazeReport:
    per_image: pd.DataFrame  # one row per stimulus and method: stimulus, target, method, one column per metric
    table: pd.DataFrame  # one row per method: n, then "mean ± SD" per metric
    tests: pd.DataFrame  # metric, method_a, method_b, n, statistic, pvalue, pvalue_holm
    files: tuple[Path, ...]
    seconds: float


def parse_methods(text: str) -> list[str]:
    """'gradcam,gradcampp,fem,gradient' -> explainer method names; raises GazeReportError."""
    methods = [METHOD_ALIASES.get(m.strip().lower(), m.strip().lower()) for m in text.split(",") if m.strip()]
    allowed = [m for m in explainers.METHODS if m != "pv"]
    unknown = [m for m in methods if m not in allowed]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise GazeReportError(f"methods must be distinct names from {', '.join(allowed)} "
                              f"(gradcampp for gradcam++); got {text!r}")
    return methods


def gaze_report(dataset: GazeDataset, model_spec: str, methods: Sequence[str], out_dir: Path, *,
                device: str = "cpu", batch_size: int = 8, progress: bool = False) -> GazeReport:
    """Explain every stimulus with a GFDM with each method, score the maps against the GFDMs and
    write per_image.csv, table.csv, table.md and tests.csv into `out_dir`."""
    started = time.perf_counter()
    rows = list(dataset.stimuli.select_related("gaze_map", "fixations").order_by("name"))
    rows = [row for row in rows if hasattr(row, "gaze_map")]
    if not rows:
        raise GazeReportError(f"data set {dataset.name} has no stimuli with a GFDM to compare with")
    if batch_size < 1:
        raise GazeReportError("batch size must be at least 1")
    model = _load(model_spec, device)
    metrics = [*DENSITY_METRICS, *(FIXATION_METRICS if any(hasattr(r, "fixations") for r in rows) else ())]

    report_id = timezone.now().strftime("%Y%m%dT%H%M%S%f")
    media = Path(settings.MEDIA_ROOT)
    previews = f"gaze/{dataset.name}/reports/{report_id}"
    records, scores, maps_for = [], {}, {}
    try:
        for start in tqdm(range(0, len(rows), batch_size), desc="gaze report", disable=not progress):
            batch = rows[start:start + batch_size]
            images = [_rgb(row.image.path) for row in batch]
            inputs = model.preprocess(images)
            targets = explainers.predict(model, inputs).argmax(dim=1)
            maps = {method: explainers.explain(model, inputs, targets, method).cpu().numpy()
                    for method in methods}  # each (B, S, S) float32 in [0, 1]
            for i, row in enumerate(batch):
                stack = np.stack([maps[method][i] for method in methods])  # (M, S, S)
                table = _score(row, stack, metrics)
                target = model.class_names[int(targets[i])]
                scores[row.name], maps_for[row.name] = {}, {}
                for method, values in zip(methods, table.to_dict("records")):
                    records.append({"stimulus": row.name, "target": target, "method": method, **values})
                    scores[row.name][method] = {k: _json_float(v) for k, v in values.items()}
                    relative = f"{previews}/{method}/{row.name}.png"
                    size = Image.open(row.gaze_map.preview.path).size
                    _write_atomic(media / relative, preview_png(stack[methods.index(method)], size))
                    maps_for[row.name][method] = relative
        per_image = pd.DataFrame.from_records(records)
        summary, tests = method_table(per_image, metrics), paired_tests(per_image, metrics)
        files = _write_outputs(Path(out_dir), per_image, summary, tests, dataset, model, metrics)
    except BaseException:
        shutil.rmtree(media / previews, ignore_errors=True)
        raise
    old = dataset.last_report.get("previews")
    dataset.last_report = {
        "created_at": timezone.now().isoformat(), "model": model.name, "weights_hash": model.weights_hash,
        "methods": list(methods), "metrics": metrics, "out": str(Path(out_dir).resolve()), "previews": previews,
        "scores": scores, "maps": maps_for, "table": summary.to_dict("records"),
    }
    dataset.save(update_fields=["last_report"])
    if old and old != previews:
        shutil.rmtree(media / old, ignore_errors=True)
    return GazeReport(per_image, summary, tests, files, time.perf_counter() - started)


def report_for_stimulus(dataset: GazeDataset, stimulus: str) -> dict:
    """From the data set's last report: {"methods", "metrics", "labels", "scores": {method: {metric:
    value}}, "maps": {method: media path}, "created_at", "model"}; empty if there is none."""
    report = dataset.last_report or {}
    if stimulus not in report.get("scores", {}):
        return {}
    return {"methods": report["methods"], "metrics": report["metrics"], "model": report["model"],
            "created_at": report["created_at"], "labels": [METRIC_LABELS[m] for m in report["metrics"]],
            "scores": report["scores"][stimulus], "maps": report["maps"][stimulus]}


def method_table(per_image: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per method: n and 'mean ± SD' (sample SD, NaN scores left out) of each metric, 3 decimals."""
    rows = []
    for method, group in per_image.groupby("method", sort=False):
        row = {"method": method, "n": len(group)}
        for metric in metrics:
            values = group[metric].dropna()
            row[METRIC_LABELS[metric]] = f"{values.mean():.3f} ± {values.std(ddof=1):.3f}" if len(values) > 1 \
                else (f"{values.mean():.3f}" if len(values) else "n/a")
        rows.append(row)
    return pd.DataFrame(rows)


def paired_tests(per_image: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Two-sided Wilcoxon signed-rank tests between every pair of methods, on the stimuli both
    scored, per metric; p-values Holm-corrected within each metric."""
    rows = []
    methods = list(dict.fromkeys(per_image["method"]))
    for metric in metrics:
        wide = per_image.pivot(index="stimulus", columns="method", values=metric)
        first = len(rows)
        for a, b in itertools.combinations(methods, 2):
            pair = wide[[a, b]].dropna()
            differences = pair[a] - pair[b]
            if len(pair) < 2 or not differences.any():
                statistic, pvalue = np.nan, np.nan
            else:
                result = stats.wilcoxon(pair[a], pair[b])
                statistic, pvalue = float(result.statistic), float(result.pvalue)
            rows.append({"metric": METRIC_LABELS[metric], "method_a": a, "method_b": b, "n": len(pair),
                         "statistic": statistic, "pvalue": pvalue, "pvalue_holm": np.nan})
        pvalues = np.array([r["pvalue"] for r in rows[first:]], dtype=float)
        valid = ~np.isnan(pvalues)
        if valid.any():
            corrected = multipletests(pvalues[valid], method="holm")[1]
            for row, value in zip([r for r, ok in zip(rows[first:], valid) if ok], corrected):
                row["pvalue_holm"] = float(value)
    return pd.DataFrame(rows, columns=["metric", "method_a", "method_b", "n", "statistic", "pvalue", "pvalue_holm"])


def markdown_table(table: pd.DataFrame) -> str:
    """The per-method table as a GitHub Markdown table."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *lines]) + "\n"


def _load(spec: str, device: str) -> explainers.LoadedModel:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GazeReportError(f"device {device!r} asked for, but CUDA is not available")
    try:
        return explainers.load_model(spec).to(device)
    except explainers.ModelLoadError as error:
        raise GazeReportError(str(error)) from error
    except RuntimeError as error:  # e.g. an unknown device string
        raise GazeReportError(f"cannot use device {device!r}: {error}") from error


def _rgb(path: str) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


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


def _json_float(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _write_outputs(out: Path, per_image: pd.DataFrame, table: pd.DataFrame, tests: pd.DataFrame,
                   dataset: GazeDataset, model, metrics: Sequence[str]) -> tuple[Path, ...]:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GazeReportError(f"cannot create output folder {out}: {error}") from error
    title = (f"Gaze comparison: {dataset.name} ({per_image['stimulus'].nunique()} stimuli), model {model.name}, "
             f"top-1 targets; mean ± SD over stimuli. Higher is better except KLD.\n\n")
    contents = {
        "per_image.csv": per_image.to_csv(index=False, float_format="%.6g"),
        "table.csv": table.to_csv(index=False),
        "table.md": title + markdown_table(table),
        "tests.csv": tests.to_csv(index=False, float_format="%.6g"),
    }
    try:
        return tuple(_write_atomic(out / name, text.encode()) for name, text in contents.items())
    except OSError as error:
        raise GazeReportError(f"cannot write the report into {out}: {error}") from error


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
