"""Figures of a gaze comparison and the HTML report that holds them with the tables.

- `stimulus_panel`: the JEI 2021 review's figure: per stimulus the image, its GFDM and each
  method's map;
- `metric_boxes`: per metric, one box per method (baselines in grey) over the images scored;
- `ranking_plot`: per metric, each method's mean rank over the images every method was scored on
  (1 = best; KLD and EMD rank lower values first).

Matplotlib's object API only (no pyplot): no global state, safe in threads and workers.
"""
from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.errors import AnalysisError
from analysis.saliency import LOWER_IS_BETTER


@dataclass(frozen=True)
class PanelRow:
    """One stimulus of the panel: image `(H, W, 3)` uint8, GFDM `(H, W)`, method -> map `(h, w)`."""

    name: str
    image: np.ndarray
    gfdm: np.ndarray
    maps: Mapping[str, np.ndarray]


def stimulus_panel(rows: Sequence[PanelRow]) -> Figure:
    """One row per stimulus: the image, the GFDM, then each method's map (as given, in its colours)."""
    if not rows:
        raise AnalysisError("the stimulus panel needs at least one stimulus")
    methods = list(rows[0].maps)
    columns = 2 + len(methods)
    figure = Figure(figsize=(2.2 * columns, 1.8 * len(rows) + 0.4), layout="constrained")
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for index, (axis_row, row) in enumerate(zip(axes, rows)):
        height, width = row.gfdm.shape
        panels = [("image", row.image, None), ("GFDM", row.gfdm, "inferno")]
        panels += [(method, row.maps[method], "jet") for method in methods]
        for axis, (title, values, colours) in zip(axis_row, panels):
            axis.imshow(values, cmap=colours, extent=(0, width, height, 0), interpolation="bilinear")
            axis.set_xticks([])
            axis.set_yticks([])
            if index == 0:
                axis.set_title(title, fontsize=9)
        axis_row[0].set_ylabel(row.name if len(row.name) <= 24 else row.name[:23] + "…", fontsize=7)
    return figure


def metric_boxes(scores: pd.DataFrame, metrics: Sequence[str], baselines: Sequence[str] = ()) -> Figure:
    """Per metric a box plot of the per-image scores of each method (NaN left out; n under each box)."""
    methods = list(dict.fromkeys(scores["method"]))
    figure = Figure(figsize=(max(4.0, 0.9 * len(methods)) * min(len(metrics), 3),
                             3.2 * int(np.ceil(len(metrics) / 3))), layout="constrained")
    axes = figure.subplots(int(np.ceil(len(metrics) / 3)), min(len(metrics), 3), squeeze=False).ravel()
    for axis, metric in zip(axes, metrics):
        values = [scores.loc[scores["method"] == method, metric].dropna().to_numpy() for method in methods]
        shown = [i for i, v in enumerate(values) if v.size]
        if shown:
            boxes = axis.boxplot([values[i] for i in shown], positions=shown, widths=0.6, patch_artist=True)
            for i, patch in zip(shown, boxes["boxes"]):
                patch.set_facecolor("0.8" if methods[i] in baselines else "tab:blue")
        labels = [f"{method}\n(n={v.size})" for method, v in zip(methods, values)]
        axis.set_xticks(range(len(methods)), labels, fontsize=7, rotation=30)
        direction = "lower is better" if metric in LOWER_IS_BETTER else "higher is better"
        axis.set_title(f"{metric.upper()} ({direction})", fontsize=9)
    for axis in axes[len(metrics):]:
        axis.set_visible(False)
    return figure


def mean_ranks(scores: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per metric and method: the mean rank (1 = best) over images every method has a score for,
    and that number of images. Columns: metric, method, mean_rank, n."""
    rows = []
    for metric in metrics:
        wide = scores.pivot(index="image", columns="method", values=metric).dropna()
        if wide.empty:
            continue
        ranks = wide.rank(axis=1, ascending=metric in LOWER_IS_BETTER)
        for method, mean in ranks.mean().items():
            rows.append({"metric": metric, "method": method, "mean_rank": float(mean), "n": len(wide)})
    return pd.DataFrame(rows, columns=["metric", "method", "mean_rank", "n"])


def comparable_metrics(ranks: pd.DataFrame) -> list[str]:
    """The metrics of `mean_ranks` ranked over the most images (one n for all, so one plot compares
    them), in their order there."""
    if ranks.empty:
        return []
    return list(dict.fromkeys(ranks.loc[ranks["n"] == ranks["n"].max(), "metric"]))


def ranking_plot(scores: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """Mean rank of each method per metric (1 = best), one line per method, over the metrics ranked
    on the same, largest number of images (`comparable_metrics`); its n in the title."""
    ranks = mean_ranks(scores, metrics)
    shown = comparable_metrics(ranks)
    ranks = ranks[ranks["metric"].isin(shown)]
    figure = Figure(figsize=(1.1 * len(metrics) + 3, 3.5), layout="constrained")
    axis = figure.subplots()
    for method, group in ranks.groupby("method", sort=False):
        group = group.set_index("metric").reindex(shown)
        axis.plot(range(len(shown)), group["mean_rank"], marker="o", label=method)
    axis.set_xticks(range(len(shown)), [m.upper() for m in shown], fontsize=8)
    if shown:
        axis.set_title(f"over the same {int(ranks['n'].iloc[0])} images for every metric", fontsize=9)
    axis.invert_yaxis()
    axis.set_ylabel("mean rank (1 = best)")
    axis.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1, 0.5))
    return figure


def figure_png(figure: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


REPORT_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
                "font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px}img{max-width:100%}")


def html_report(title: str, sections: Sequence[tuple[str, str | pd.DataFrame | bytes]]) -> str:
    """One self-contained HTML page: per section a heading and a table (DataFrame, escaped), a
    paragraph (str, escaped), a bulleted list (list of str, escaped) or a PNG figure (bytes, embedded
    as a data URL)."""
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{REPORT_STYLE}</style>",
        "</head><body>", f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            parts.append(content.to_html(index=False, escape=True, na_rep="n/a", border=0))
        elif isinstance(content, bytes):
            encoded = base64.b64encode(content).decode("ascii")
            parts.append(f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{encoded}">')
        elif isinstance(content, list):
            parts.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in content) + "</ul>")
        else:
            parts.append(f"<p>{html.escape(content)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

