"""Score explanation methods on a folder of images with the `evaluation` library and write the
table (CSV, Markdown, LaTeX) and figures (mean deletion and insertion curves, the cascading
randomisation figure). `evaluate_explainers` is what the command runs, and what a job calls.

Every input is checked before anything is computed or written: the methods and metrics, the
folder, every image (opened whole), the VOC annotations the pointing games need, the model and
the device. Files are written only at the end, each to a temporary name and then renamed.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

import explainers
from analysis.reports import to_latex, to_markdown, write_text
from evaluation.errors import EvaluationError
from evaluation.faithfulness import Curve
from evaluation.localisation import Annotation, box_mask, read_voc_annotation
from evaluation.metrics import METRICS, Batch
from evaluation.sanity import Randomisation
from explainers.images import IMAGE_SUFFIXES
from explainers.methods import MAP_METHODS
from explainers.precompute import resolve_device

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402  (after choosing the file-only backend)

TITLES = {"spearman": "Spearman rank correlation", "ssim": "SSIM", "hog": "HOG similarity"}


# report(done, total, message): the progress of `evaluate_explainers` (a job's reporter raises in it to stop).
Report = Callable[[int, int, str], None]


@dataclass(frozen=True)
class EvaluationReport:
    scores: pd.DataFrame  # one row per image and method: image, method, target, one column per metric
    table: pd.DataFrame  # Method, "mean ± SD" per metric, n
    flip_rate: float | None  # share of images the plausibility attack flipped (when asked for)
    files: tuple[Path, ...]


def parse_names(text: str, known: Sequence[str], what: str) -> list[str]:
    """'a,b' -> ['a', 'b'], each in `known` and distinct; raises EvaluationError."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names or len(set(names)) != len(names):
        raise EvaluationError(f"{what} must be distinct names from {', '.join(known)}; got {text!r}")
    return names


def find_images(folder: Path) -> tuple[list[Path], Path | None]:
    """Images of a folder (or of its VOC `JPEGImages/`), sorted, each opened whole; and the VOC
    `Annotations/` folder when there is one."""
    folder = Path(folder)
    annotations = folder / "Annotations" if (folder / "JPEGImages").is_dir() else None
    source = folder / "JPEGImages" if annotations else folder
    if not source.is_dir():
        raise EvaluationError(f"--images {folder} is not a folder")
    paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise EvaluationError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {source}")
    for path in paths:
        try:
            with Image.open(path) as image:
                image.load()
        except (OSError, UnidentifiedImageError) as error:
            raise EvaluationError(f"cannot read image {path}: {error}") from error
    return paths, annotations


def evaluate_explainers(model_spec: str, images_dir: Path, methods: Sequence[str], metrics: Sequence[str],
                        out_dir: Path, *, device: str = "cpu", batch_size: int = 8, step: int | None = None,
                        progress: bool = False, report: Report | None = None) -> EvaluationReport:
    """Explain every image for the model's top-1 class with each method, score the maps with each
    metric and write scores.csv, table.{csv,md,tex} and the figures into `out_dir`. `step`: pixels
    per deletion/insertion step (default: the input side, RISE's 224 at 224 x 224). `report` hears
    each batch of maps scored. Raises EvaluationError, before anything is written, on bad input."""
    methods = parse_names(",".join(methods), MAP_METHODS, "methods")
    metrics = parse_names(",".join(metrics), METRICS, "metrics")
    if batch_size < 1 or (step is not None and step < 1):
        raise EvaluationError(f"batch size and step must be at least 1, got {batch_size} and {step}")
    paths, annotation_dir = find_images(images_dir)
    boxes = _read_boxes(paths, annotation_dir) if any(METRICS[m].needs_boxes for m in metrics) else {}
    try:
        model = explainers.load_model(model_spec).to(resolve_device(device))
    except explainers.ExplainerError as error:
        raise EvaluationError(str(error)) from error
    size = model.input_size
    step = step or size
    rows, curves, randomisation = [], {}, {}
    flips = []
    done, total = 0, len(paths) * len(methods)
    bar = tqdm(total=total, desc="evaluating explainers", unit="map", disable=not progress)
    try:
        for start in range(0, len(paths), batch_size):
            batch_paths = paths[start:start + batch_size]
            x = model.preprocess(batch_paths)
            targets = explainers.predict(model, x).argmax(dim=1)
            masks = _masks(model, batch_paths, boxes, targets, size) if boxes else None
            batch = Batch(model, x, targets, methods, step, masks)
            if "plausibility" in metrics:  # the attack runs once per batch, before the methods' maps
                flips.extend(batch.plausibility.attack.flipped.tolist())
            for method in methods:
                stage = f"explaining and scoring the images ({explainers.label(method)})"
                if report:
                    report(done, total, stage)  # named before the method runs
                maps = explainers.explain(model, x, targets, method).detach()
                scores = {name: metric.score(batch, method, maps) for name, metric in METRICS.items()
                          if name in metrics}  # columns in the registry's order
                for name, score in scores.items():
                    if isinstance(score.detail, Curve):
                        curves.setdefault(name, {}).setdefault(method, []).append(
                            (score.detail.fractions, score.detail.scores))
                    elif isinstance(score.detail, Randomisation):
                        randomisation.setdefault(method, []).append(score.detail)
                for i, path in enumerate(batch_paths):
                    rows.append({"image": path.name, "method": method,
                                 "target": model.class_names[targets[i]],
                                 **{name: float(score.values[i]) for name, score in scores.items()}})
                done += len(batch_paths)
                bar.update(len(batch_paths))
                if report:
                    report(done, total, stage)
    except explainers.ExplainerError as error:
        raise EvaluationError(str(error)) from error
    finally:
        bar.close()
    frame = pd.DataFrame.from_records(rows)
    table = summary_table(frame, methods, metrics)
    files = _write(Path(out_dir), frame, table, curves, randomisation)
    return EvaluationReport(frame, table, float(np.mean(flips)) if flips else None, tuple(files))


def _read_boxes(paths: list[Path], annotation_dir: Path | None) -> dict[str, Annotation]:
    if annotation_dir is None:
        raise EvaluationError("the pointing games need a VOC folder (JPEGImages/ + Annotations/) "
                              "with boxes")
    boxes = {}
    for path in paths:
        xml = annotation_dir / f"{path.stem}.xml"
        if not xml.is_file():
            raise EvaluationError(f"no annotation {xml} for {path.name}")
        boxes[path.name] = read_voc_annotation(xml)
    return boxes


def _masks(model, paths, boxes, targets, size) -> np.ndarray:
    """(B, S, S) bool: the boxes of the target class where the annotation has it, else every box
    (an ImageNet model's class names are not VOC's)."""
    masks = []
    for path, target in zip(paths, targets.tolist()):
        annotation = boxes[path.name]
        name = model.class_names[target]
        labels = {name} if any(box.label == name for box in annotation.boxes) else None
        masks.append(box_mask(annotation, (size, size), labels))
    return np.stack(masks)


def summary_table(scores: pd.DataFrame, methods: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per method: "mean ± SD" of each metric over the images (NaNs left out), and n images."""
    rows = []
    for method in methods:
        part = scores[scores["method"] == method]
        row = {"Method": method}
        for metric in metrics:
            values = part[metric].dropna()
            row[metric] = f"{values.mean():.4f} ± {values.std(ddof=1):.4f}" if len(values) > 1 else (
                f"{values.mean():.4f}" if len(values) else "n/a")
        rows.append(row | {"n": len(part)})
    return pd.DataFrame(rows)


def _write(out: Path, frame, table, curves, randomisation) -> list[Path]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        files = [write_text(out / "scores.csv", frame.to_csv(index=False, float_format="%.6g")),
                 write_text(out / "table.csv", table.to_csv(index=False)),
                 write_text(out / "table.md", to_markdown(table)),
                 write_text(out / "table.tex", to_latex(table))]
        for name, by_method in curves.items():
            if by_method:
                files.append(_save(out / f"{name}.png", _curve_figure(name, by_method)))
        if randomisation:
            files.append(_save(out / "randomisation.png", _randomisation_figure(randomisation)))
    except OSError as error:
        raise EvaluationError(f"cannot write the report into {out}: {error}") from error
    return files


def _curve_figure(name: str, by_method: dict) -> plt.Figure:
    figure, axes = plt.subplots(figsize=(5, 4))
    for method, parts in by_method.items():
        fractions = parts[0][0]
        scores = np.concatenate([s for _, s in parts])
        auc = np.trapezoid(scores, fractions, axis=1).mean()
        axes.plot(fractions, scores.mean(axis=0), label=f"{method} (AUC {auc:.3f})")
    axes.set(xlabel=f"fraction of pixels {'deleted' if name == 'deletion' else 'inserted'}",
             ylabel="probability of the class", title=f"{name.capitalize()} (mean over images)", ylim=(0, 1))
    axes.legend(fontsize="small")
    return figure


def _randomisation_figure(randomisation: dict) -> plt.Figure:
    figure, panels = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for method, results in randomisation.items():
        layers = results[0].layers
        for panel, measure in zip(panels, ("spearman", "ssim", "hog")):
            values = np.concatenate([[getattr(s, measure) for s in r.similarity] for r in results], axis=1)
            panel.plot(range(len(layers)), np.nanmean(values, axis=1), marker="o", label=method)
            panel.set_xticks(range(len(layers)), layers, rotation=60, ha="right", fontsize="x-small")
            panel.set_title(TITLES[measure])
    panels[0].set_ylabel("similarity to the original map")
    panels[0].legend(fontsize="small")
    figure.suptitle("Cascading randomisation from the top layer")
    figure.tight_layout()
    return figure


def _save(path: Path, figure: plt.Figure) -> Path:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=120, bbox_inches="tight")
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path
