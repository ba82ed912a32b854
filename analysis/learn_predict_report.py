"""The learn-then-predict report (see `analysis.learn_predict`) as CSV, Markdown and a PNG, in the form of
`reports.write_simulatability_report`: everything computed first, then each file written whole."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis import learn_predict
from analysis.errors import AnalysisError
from analysis.gaze_figures import figure_png
from analysis.reports import format_tests, to_markdown, warning_lines, write_bytes, write_texts


def _percent(mean: float, se: float) -> str:
    return f"{100 * mean:.1f}% (±{100 * se:.1f}%)" if np.isfinite(se) else f"{100 * mean:.1f}%"


def _round_label(round_: object) -> str:
    return "All rounds" if round_ == learn_predict.ALL_ROUNDS else f"Round {round_}"


def format_curve(curve: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: n (its most participants in a round), then "62.5% (±12.5%)" per round,
    "(n=...)" added where fewer participants than n were tested in that round."""
    rows = []
    rounds = sorted(set(curve["round"]))
    for (arm, technique), group in curve.groupby(["arm", "technique"], sort=False):
        n = int(group["n"].max())
        cells = group.set_index("round")
        row = {"Arm": arm, "Technique": technique, "n": n}
        for round_ in rounds:
            if round_ not in cells.index:
                row[_round_label(round_)] = ""
                continue
            count = int(cells.loc[round_, "n"])
            row[_round_label(round_)] = (_percent(cells.loc[round_, "mean"], cells.loc[round_, "se"])
                                         + (f" (n={count})" if count < n else ""))
        rows.append(row)
    return pd.DataFrame(rows)


def format_utility(table: pd.DataFrame) -> pd.DataFrame:
    """Utility rows as printed: the ratio with its bootstrap interval, both accuracies in percent."""
    def ratio(value: float, low: float, high: float, degenerate: bool) -> str:
        return f"{value:.2f} (interval degenerate)" if degenerate else f"{value:.2f} [{low:.2f}, {high:.2f}]"

    return pd.DataFrame({
        "Arm": table["arm"],
        "Round": table["round"].map(_round_label),
        "n": table["n"].astype(str) + " vs " + table["n_control"].astype(str),
        "Accuracy": table["accuracy"].map(lambda a: f"{100 * a:.1f}%"),
        "Control accuracy": table["control_accuracy"].map(lambda a: f"{100 * a:.1f}%"),
        "Utility (95% CI)": list(map(ratio, table["utility"], table["ci_low"], table["ci_high"],
                                     table["ci_degenerate"].astype(bool))),
    })


def format_round_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """`reports.format_tests` of per-round tests, the first column naming the round."""
    formatted = format_tests(tests.rename(columns={"round": "subset"}).assign(subset="x"))
    formatted["Subset"] = tests["round"].map(_round_label).to_numpy()
    return formatted.rename(columns={"Subset": "Round"})


def curve_figure(curve: pd.DataFrame) -> Figure:
    """Mean test accuracy (± SE, none for one participant) per arm over the rounds."""
    figure = Figure(figsize=(6, 4))  # no pyplot: no global backend, safe in threads
    axis = figure.subplots()
    for arm, group in curve.groupby("arm", sort=False):
        axis.errorbar(group["round"], group["mean"], yerr=group["se"].fillna(0), marker="o", capsize=3,
                      label=f"{arm} (n = {int(group['n'].max())})")
    axis.set(xlabel="round", ylabel="test accuracy", ylim=(-0.05, 1.05), title="Learning curve (mean ± SE)")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.legend(frameon=False)
    figure.tight_layout()
    return figure


def write_learn_predict_report(
    trials: pd.DataFrame,
    participants: pd.DataFrame | None,
    out_dir: str | os.PathLike,
    method: str = "auto",
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write learning_curve.csv (`learn_predict.learning_curve`), utility.csv (`learn_predict.utility`;
    none when there is no control arm: the Markdown says why), round_tests.csv
    (`learn_predict.compare_rounds`, p by `method`), table1.md (`notes` under "Study notes", then the
    curve, the utility and the tests) and learning_curve.png into `out_dir`; only completed participants
    count when `participants` is given. Everything is computed before the first file is written;
    returns the paths written. AnalysisError when no test answer is left to analyse.
    """
    accuracies = learn_predict.test_accuracies(trials, participants)
    if accuracies.empty:
        raise AnalysisError("no test answers to analyse (no completed participant yet?)")
    curve = learn_predict.learning_curve(accuracies)
    try:
        utility, utility_note = learn_predict.utility(accuracies), ""
    except AnalysisError as error:
        utility = pd.DataFrame(columns=list(learn_predict.UTILITY_COLUMNS))
        utility_note = f"not computed: {error}"
    tests = learn_predict.compare_rounds(accuracies, method=method)
    markdown = "".join(f"{line}\n" for line in ["## Study notes\n", *notes, ""]) if notes else ""
    markdown += ("## Learning curve: per-participant test accuracy per round (mean ± SE)\n\n"
                 + to_markdown(format_curve(curve)))
    markdown += ("\n## Utility: explained arm's mean accuracy / control arm's (percentile bootstrap 95% CI, "
                 "participants resampled within each arm)\n\n"
                 + (to_markdown(format_utility(utility)) if utility_note == "" else utility_note + "\n"))
    if len(tests):
        markdown += ("\n## Mann-Whitney U on per-participant test accuracies per round (control arm "
                     "first, one-sided; other pairs two-sided)\n\n" + to_markdown(format_round_tests(tests))
                     + warning_lines(tests))
    figure = figure_png(curve_figure(curve), dpi=120)
    files = {
        "learning_curve.csv": curve.to_csv(index=False),
        "utility.csv": utility.to_csv(index=False),
        "round_tests.csv": tests.to_csv(index=False),
        "table1.md": markdown,
    }
    return write_texts(out_dir, files) + [write_bytes(Path(out_dir) / "learning_curve.png", figure)]
