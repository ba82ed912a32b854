"""Reports of HIVE's two designs (see `analysis.hive`) as CSV and Markdown, in the form of
`reports.write_simulatability_report`: everything computed first, then each file written whole."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import hive, simulatability
from analysis.errors import AnalysisError
from analysis.reports import (default_comparisons, format_table1, format_tests, to_markdown,
                              warning_lines, write_texts)

SCORE_LABELS = {"mean_agreement_correct": "Mean agreement, model correct",
                "mean_agreement_incorrect": "Mean agreement, model incorrect",
                "convinced_by_wrong": "Convinced by wrong predictions", "auc": "AUC"}


def _study_notes(notes: Sequence[str]) -> str:
    return "".join(f"{line}\n" for line in ["## Study\n", *notes, ""]) if notes else ""


def format_agreement_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: n participants, then "mean (±SE)" per score (the convinced share in
    percent), "(n=...)" added where fewer participants than the arm's have a value."""
    rows = []
    for (arm, technique), group in table.groupby(["arm", "technique"], sort=False):
        n = int(group["n"].max())
        row = {"Arm": arm, "Technique": technique, "n": n}
        for score, label in SCORE_LABELS.items():
            cells = group[group["score"] == score]
            if cells.empty:
                row[label] = ""
                continue
            mean, se, count = cells["mean"].iloc[0], cells["se"].iloc[0], int(cells["n"].iloc[0])
            scale, digits, unit = (100, 1, "%") if score == "convinced_by_wrong" else (1, 2, "")
            text = f"{scale * mean:.{digits}f}{unit}"
            text += f" (±{scale * se:.{digits}f}{unit})" if np.isfinite(se) else ""
            row[label] = text + (f" (n={count})" if count < n else "")
        rows.append(row)
    return pd.DataFrame(rows)


def format_score_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """`reports.format_tests` of score tests, the first column naming the score."""
    formatted = format_tests(tests.rename(columns={"score": "subset"}))
    formatted["Subset"] = tests["score"].map(SCORE_LABELS).to_numpy()
    return formatted.rename(columns={"Subset": "Score"})


def write_agreement_report(
    trials: pd.DataFrame,
    participants: pd.DataFrame | None,
    out_dir: str | os.PathLike,
    notes: Sequence[str] = (),
    method: str = "auto",
    points: int = hive.AGREEMENT_POINTS,
) -> list[Path]:
    """Write agreement_scores.csv (one row per participant), agreement_table.csv (per arm and score),
    agreement_tests.csv (Mann-Whitney of AUC and the convinced share, two-sided, for the arm pairs
    of `reports.default_comparisons`: control arms first) and table1.md (`notes` under "Study",
    then the table and the tests) into `out_dir`; only completed participants count when
    `participants` is given. Everything is computed before the first file is written; returns the
    paths written. AnalysisError when no answer is left to analyse.
    """
    scores = hive.agreement_scores(trials, participants, points)
    if scores.empty:
        raise AnalysisError("no answered questions to analyse (no completed participant yet?)")
    table = hive.agreement_table(scores)
    tests = [hive.compare_scores(scores, first, second, method=method)
             for first, second, _ in default_comparisons(scores)]
    tests = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(columns=hive.SCORE_TEST_COLUMNS)
    markdown = _study_notes(notes)
    markdown += (f"## Agreement with the model's prediction (scale 1..{points}; per-participant scores, "
                 "mean ± SE)\n\n" + to_markdown(format_agreement_table(table)))
    if len(tests):
        markdown += ("\n## Mann-Whitney U on per-participant scores (two-sided)\n\n"
                     + to_markdown(format_score_tests(tests)) + warning_lines(tests))
    files = {
        "agreement_scores.csv": scores.to_csv(index=False),
        "agreement_table.csv": table.to_csv(index=False),
        "agreement_tests.csv": tests.to_csv(index=False),
        "table1.md": markdown,
    }
    return write_texts(out_dir, files)


def format_binomial(binomial: pd.DataFrame) -> pd.DataFrame:
    """Binomial rows as printed: accuracy and its interval in percent, p in scientific notation."""
    return pd.DataFrame({
        "Arm": binomial["arm"],
        "Subset": binomial["subset"].str.capitalize(),
        "k": binomial["k"],
        "Right / n": binomial["n_right"].astype(str) + " / " + binomial["n"].astype(str),
        "Accuracy (95% CI)": [f"{100 * a:.1f}% [{100 * low:.1f}%, {100 * high:.1f}%]" for a, low, high
                              in zip(binomial["accuracy"], binomial["ci_low"], binomial["ci_high"])],
        "Chance": binomial["chance"].map(lambda c: f"{100 * c:.1f}%"),
        "p (> chance)": binomial["pvalue"].map(lambda p: f"{p:.3g}"),
    })


def write_distinction_report(
    trials: pd.DataFrame,
    participants: pd.DataFrame | None,
    out_dir: str | os.PathLike,
    method: str = "auto",
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write table1.csv (per-participant accuracies per arm and subset, chance 1/k), binomial.csv
    (answers pooled per arm against chance), mannwhitney.csv (`simulatability.compare_arms` for
    `reports.default_comparisons`, p by `method`), correct_class.csv (when trials answer the
    correct-class question) and table1.md (`notes` under "Study", then each table) into `out_dir`;
    only completed participants count when `participants` is given. Everything is computed before
    the first file is written; returns the paths written. AnalysisError when there is no answer.
    """
    accuracies = simulatability.participant_accuracies(trials, participants)
    if accuracies.empty:
        raise AnalysisError("no answered questions to analyse (no completed participant yet?)")
    table = hive.distinction_table(trials, participants)
    binomial = hive.binomial_tests(trials, participants)
    tests = [simulatability.compare_arms(accuracies, a, b, alternatives, method=method)
             for a, b, alternatives in default_comparisons(accuracies)]
    tests = (pd.concat(tests, ignore_index=True) if tests
             else pd.DataFrame(columns=simulatability.TEST_COLUMNS))
    correct_class = hive.correct_class_accuracy(trials, participants)
    formatted = format_table1(table)
    if table["chance"].nunique() > 1:  # one chance per arm: a column, not the closing row
        formatted = formatted.iloc[:-1].assign(Chance=[f"{100 * c:.1f}%" for c in
                                                       table.drop_duplicates("arm")["chance"]])
    markdown = _study_notes(notes)
    markdown += ("## Distinction: per-participant accuracy (Table 1, chance 1/k)\n\n" + to_markdown(formatted)
                 + "\n## Exact binomial tests against chance (answers pooled per arm, one-sided)\n\n"
                 + to_markdown(format_binomial(binomial)))
    if len(tests):
        markdown += ("\n## Mann-Whitney U on per-participant accuracies\n\n"
                     + to_markdown(format_tests(tests)) + warning_lines(tests))
    files = {
        "table1.csv": table.to_csv(index=False),
        "binomial.csv": binomial.to_csv(index=False),
        "mannwhitney.csv": tests.to_csv(index=False),
    }
    if len(correct_class):
        files["correct_class.csv"] = correct_class.to_csv(index=False)
        markdown += ("\n## Second question: which panel is the true class (answers where it was asked)\n\n"
                     + to_markdown(correct_class.round(3)))
    files["table1.md"] = markdown
    return write_texts(out_dir, files)
