"""A study's analysis page: start an "analysis" job (the same `write_simulatability_report` as
`analyze_study`) and read the files of the latest finished one for display and download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study import jobs
from study.models import Job, Study

# The tables shown on the page, in order: file -> heading.
TABLES = {
    "table1.csv": "Table 1: accuracy per arm, model correct / incorrect (mean and standard error)",
    "mannwhitney.csv": "Mann-Whitney U on per-participant accuracies (one-sided for Grad-CAM vs PV and for each "
                       "arm vs the control arm, otherwise two-sided)",
    "binomial.csv": "Distinction: exact binomial tests of each arm's answers against chance (1/k)",
    "correct_class.csv": "Distinction: which class is correct (the second question)",
    "agreement_table.csv": "Agreement: per arm, mean agreement on correct and incorrect predictions, share of "
                           "incorrect predictions judged correct, ROC AUC (mean and standard error)",
    "agreement_tests.csv": "Agreement: Mann-Whitney U on per-participant AUC and share convinced by wrong "
                           "predictions",
    "learning_curve.csv": "Learn then predict: test accuracy per arm and round (mean and standard error)",
    "utility.csv": "Learn then predict: utility, each arm's test accuracy over the control arm's (bootstrap "
                   "interval over participants)",
    "round_tests.csv": "Learn then predict: Mann-Whitney U on per-participant test accuracy, per round",
    "clicks_summary.csv": "Attention (or the attention block): clicks per trial, by image and by participant",
    "questions.csv": "Accuracy per question",
    "participation.csv": "Participation and attention-check failures per arm",
}
P_METHODS = ("auto", "exact", "asymptotic")


@dataclass(frozen=True)
class ShownTable:
    name: str  # the file, e.g. "table1.csv"
    heading: str
    columns: list[str]
    rows: list[list[str]]


def start_analysis(study: Study, user, method: str = "auto") -> Job:
    """Queue the analysis of `study` with the p-value method `method` (auto, exact or asymptotic)."""
    if method not in P_METHODS:
        raise jobs.JobError(f"p method must be one of {', '.join(P_METHODS)}, not {method!r}")
    return jobs.enqueue("analysis", {"study": study.slug, "method": method}, user)


def latest_analysis(study: Study) -> Job | None:
    """The most recently finished analysis job of this study, by anyone."""
    return (Job.objects.filter(kind="analysis", params__study=study.slug, state=Job.State.DONE)
            .order_by("-finished_at", "-pk").first())


def analysis_file(job: Job, name: str) -> Path | None:
    """The path of file `name` the analysis job wrote, or None if it wrote no such file."""
    folder = (jobs.output_dir(job) / "files").resolve()
    path = (folder / name).resolve()
    return path if path.parent == folder and path.is_file() else None


def analysis_files(job: Job) -> list[str]:
    folder = jobs.output_dir(job) / "files"
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def shown_tables(job: Job) -> list[ShownTable]:
    """The tables of TABLES the job wrote, numbers rounded to 4 significant digits for reading."""
    shown = []
    for name, heading in TABLES.items():
        path = analysis_file(job, name)
        if path is None:
            continue
        frame = pd.read_csv(path)
        rows = [[_cell(value) for value in row] for row in frame.itertuples(index=False)]
        shown.append(ShownTable(name, heading, [str(c) for c in frame.columns], rows))
    return shown


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4g}"
    return str(value)
