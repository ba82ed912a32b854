"""Summaries of questionnaire answers, from the long-format export (questionnaire.csv).

Input frame: one row per participant and question with columns participant, arm, technique, block,
question, kind (likert/single/multiple/text/number), value (text; a JSON list for multiple choice;
empty when skipped) and value_number (the number or Likert point, NaN otherwise). Given the
participants frame (participants.csv), only completed participants' answers count, as in Table 1.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, MissingColumnsError

COLUMNS = ("participant", "arm", "technique", "block", "question", "kind", "value", "value_number")
OPTION_COLUMNS = ["block", "question", "kind", "arm", "technique", "option", "count", "share"]
NUMBER_COLUMNS = ["block", "question", "kind", "arm", "technique", "n", "mean", "sd", "min", "median", "max"]


def _checked(answers: pd.DataFrame, participants: pd.DataFrame | None) -> pd.DataFrame:
    """The answers, of completed participants only when `participants` (participant, status) is given."""
    missing = [column for column in COLUMNS if column not in answers.columns]
    if missing:
        raise MissingColumnsError(f"the questionnaire frame lacks column(s) {missing}")
    if participants is None:
        return answers
    lacking = [column for column in ("participant", "status") if column not in participants.columns]
    if lacking:
        raise MissingColumnsError(f"the participants frame lacks column(s) {lacking}")
    completed = participants.loc[participants["status"] == "completed", "participant"]
    return answers[answers["participant"].isin(completed)]


def option_counts(answers: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """Single and multiple choice: per question, arm and option, how many participants chose it and their
    share of those who answered the question (0..1; a multiple-choice question's shares may sum past 1).
    With `participants`, completed participants only."""
    frame = _checked(answers, participants)
    frame = frame[frame["kind"].isin(["single", "multiple"]) & frame["value"].fillna("").astype(str).ne("")]
    if frame.empty:
        return pd.DataFrame(columns=OPTION_COLUMNS)
    frame = frame.assign(option=[_options(kind, value) for kind, value in zip(frame["kind"], frame["value"])])
    keys = ["block", "question", "kind", "arm", "technique"]
    answered = frame.groupby(keys)["participant"].nunique().rename("answered")
    counts = frame.explode("option").groupby([*keys, "option"])["participant"].nunique().rename("count")
    table = counts.reset_index().merge(answered.reset_index(), on=keys)
    table["share"] = table["count"] / table["answered"]
    return table[OPTION_COLUMNS]


def _options(kind: str, value: str) -> list[str]:
    if kind == "single":
        return [value]
    try:
        chosen = json.loads(value)
    except json.JSONDecodeError:
        raise AnalysisError(f"a multiple-choice answer is not a JSON list: {value!r}") from None
    if not isinstance(chosen, list):
        raise AnalysisError(f"a multiple-choice answer is not a JSON list: {value!r}")
    return [str(option) for option in chosen]


def _sample_sd(values: pd.Series) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else np.nan


def number_summaries(answers: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """Number and Likert questions: per question and arm, n answers, mean, sample SD (ddof 1), min,
    median and max of value_number; skipped answers left out. With `participants`, completed
    participants only."""
    frame = _checked(answers, participants)
    frame = frame[frame["kind"].isin(["number", "likert"])]
    frame = frame[pd.to_numeric(frame["value_number"], errors="coerce").notna()]
    if frame.empty:
        return pd.DataFrame(columns=NUMBER_COLUMNS)
    values = frame.assign(value_number=frame["value_number"].astype(float))
    grouped = values.groupby(["block", "question", "kind", "arm", "technique"])["value_number"]
    table = grouped.agg(n="size", mean="mean", sd=_sample_sd, min="min", median="median",
                        max="max").reset_index()
    return table[NUMBER_COLUMNS]
