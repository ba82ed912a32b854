"""The two study designs of HIVE (Kim et al., ECCV 2022) on the survey export.

Input: the trials frame of `simulatability` (TRIAL_COLUMNS, one row per answered question) plus
the design's columns, and optionally the participants frame (then only completed participants
count). Attention-check rows never count; boolean columns may arrive as "True"/"False" strings.

- agreement: `agreement`, an integer point 1..P of the agreement scale (P "fairly confident the
  prediction is correct", 1 "fairly confident it is incorrect"); the participant judges the
  prediction correct when agreement > P / 2 (an optional `judged_correct` column must say the same).
- distinction: the participant picks which of `k` panels explains the prediction; correct_guess
  says whether it was the top-1 panel (chance 1 / k). Optional `correct_class_right`: the answer to
  the second question (which panel is the true class), empty when it was not asked.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from analysis import simulatability
from analysis.errors import AnalysisError, MissingColumnsError

AGREEMENT_POINTS = 4  # HIVE's scale: fairly / somewhat confident correct, somewhat / fairly incorrect
SCORE_COLUMNS = ("participant", "arm", "technique", "n_correct", "n_incorrect", "mean_agreement_correct",
                 "mean_agreement_incorrect", "convinced_by_wrong", "auc")
SCORES = ("mean_agreement_correct", "mean_agreement_incorrect", "convinced_by_wrong", "auc")
TESTED_SCORES = ("auc", "convinced_by_wrong")
AGREEMENT_TABLE_COLUMNS = ("arm", "technique", "score", "n", "mean", "se")
SCORE_TEST_COLUMNS = ("score", *simulatability.TEST_COLUMNS[1:])
ALL = "all"  # the subset of every answer, beside simulatability.SUBSETS
BINOMIAL_COLUMNS = ("arm", "technique", "subset", "k", "n", "n_right", "accuracy", "chance", "pvalue",
                    "ci_low", "ci_high")
CORRECT_CLASS_COLUMNS = ("arm", "technique", "n", "accuracy")
CONFIDENCE = 0.95


def _integers(column: pd.Series, low: int, high: int | None = None) -> pd.Series:
    """`column` as int64, every value an integer in [low, high] (no upper bound when high is None)."""
    values = pd.to_numeric(column, errors="coerce")
    if values.isna().any() or (values % 1 != 0).any() or (values < low).any() or \
            (high is not None and (values > high).any()):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise AnalysisError(f"column {column.name!r} must hold integers {bounds} on every answered trial")
    return values.astype(np.int64)


# ---------------------------------------------------------------- agreement


def agreement_answers(trials: pd.DataFrame, participants: pd.DataFrame | None = None,
                      points: int = AGREEMENT_POINTS) -> pd.DataFrame:
    """`simulatability.answers` with `agreement` as int in 1..points and `judged_correct` (bool)."""
    if "agreement" not in trials.columns:
        raise MissingColumnsError("the trials frame lacks column ['agreement']")
    frame = simulatability.answers(trials, participants)
    frame["agreement"] = _integers(frame["agreement"], 1, points)
    judged = frame["agreement"] > points / 2
    if "judged_correct" in frame.columns and (simulatability._bools(frame["judged_correct"]) != judged).any():
        raise AnalysisError(f"judged_correct disagrees with agreement > {points / 2:g} on some trials")
    frame["judged_correct"] = judged
    return frame


def _auc(agreement: pd.Series, model_correct: pd.Series) -> float:
    """ROC AUC of `agreement` as a score for model_correct: U / (n_1 n_0), ties counting 1/2."""
    n_1, n_0 = int(model_correct.sum()), int((~model_correct).sum())
    if n_1 == 0 or n_0 == 0:
        return np.nan
    ranks = stats.rankdata(agreement)
    return float((ranks[model_correct.to_numpy()].sum() - n_1 * (n_1 + 1) / 2) / (n_1 * n_0))


def agreement_scores(trials: pd.DataFrame, participants: pd.DataFrame | None = None,
                     points: int = AGREEMENT_POINTS) -> pd.DataFrame:
    """One row per participant: SCORE_COLUMNS.

    n_correct / n_incorrect: answers on model-correct / model-incorrect items; mean_agreement_*:
    their mean scale point (NaN without such answers); convinced_by_wrong: share of the
    model-incorrect answers judged correct, in [0, 1]; auc: ROC AUC in [0, 1] of the agreement
    points as a score for model_correct (0.5: no distinction; NaN when only one class was seen).
    """
    frame = agreement_answers(trials, participants, points)
    rows = []
    for (participant, arm, technique), group in frame.groupby(["participant", "arm", "technique"], sort=True):
        correct, incorrect = group[group["model_correct"]], group[~group["model_correct"]]
        rows.append({
            "participant": participant, "arm": arm, "technique": technique,
            "n_correct": len(correct), "n_incorrect": len(incorrect),
            "mean_agreement_correct": correct["agreement"].mean(),
            "mean_agreement_incorrect": incorrect["agreement"].mean(),
            "convinced_by_wrong": incorrect["judged_correct"].mean() if len(incorrect) else np.nan,
            "auc": _auc(group["agreement"], group["model_correct"]),
        })
    return pd.DataFrame(rows, columns=list(SCORE_COLUMNS))


def agreement_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Per arm and score (SCORES): n participants with a value, mean and SE (sample SD / sqrt n).

    Columns: AGREEMENT_TABLE_COLUMNS, one row per arm and score.
    """
    simulatability._require(scores, ("arm", "technique", *SCORES), "scores")
    long = scores.melt(id_vars=["arm", "technique"], value_vars=list(SCORES), var_name="score").dropna()
    long["score"] = pd.Categorical(long["score"], categories=list(SCORES))  # rows in SCORES' order
    table = (long.groupby(["arm", "technique", "score"], sort=True, observed=True)["value"]
             .agg(n="size", mean="mean", se="sem").reset_index())
    return table.astype({"score": str})[list(AGREEMENT_TABLE_COLUMNS)]


def compare_scores(
    scores: pd.DataFrame,
    first: str,
    second: str,
    alternatives: dict[str, str] | None = None,
    method: str = "auto",
    continuity: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Mann-Whitney U (`simulatability.mann_whitney`) of per-participant scores, arm `first` vs
    `second`, for each of TESTED_SCORES (participants without a value left out).

    alternatives: score -> "less" / "greater" / "two-sided" (default two-sided).
    Columns: SCORE_TEST_COLUMNS (simulatability.TEST_COLUMNS with `score` in place of subset).
    """
    simulatability._require(scores, ("arm", *TESTED_SCORES), "scores")
    for arm in (first, second):
        if arm not in set(scores["arm"]):
            raise AnalysisError(f"no scores for arm {arm!r}; arms are {sorted(set(scores['arm']))}")
    rows = []
    for score in TESTED_SCORES:
        a = scores.loc[scores["arm"] == first, score].dropna().to_numpy()
        b = scores.loc[scores["arm"] == second, score].dropna().to_numpy()
        if a.size == 0 or b.size == 0:
            continue
        alternative = (alternatives or {}).get(score, "two-sided")
        result = simulatability.mann_whitney(a, b, alternative, method=method, continuity=continuity,
                                             seed=seed)
        rows.append({
            "score": score, "first": first, "second": second, "alternative": alternative,
            **simulatability.result_columns(result),
        })
    return pd.DataFrame(rows, columns=list(SCORE_TEST_COLUMNS))


# ---------------------------------------------------------------- distinction


def distinction_answers(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """`simulatability.answers` with `k` as int >= 2, one k per arm (else AnalysisError)."""
    if "k" not in trials.columns:
        raise MissingColumnsError("the trials frame lacks column ['k']")
    frame = simulatability.answers(trials, participants)
    frame["k"] = _integers(frame["k"], 2)
    varying = sorted(arm for arm, ks in frame.groupby("arm")["k"] if ks.nunique() > 1)
    if varying:
        raise AnalysisError(f"the number of panels k varies within arm(s) {varying}: "
                            "chance is not one number")
    return frame


def arm_chances(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.Series:
    """arm -> chance 1 / k of the distinction design."""
    frame = distinction_answers(trials, participants)
    return 1 / frame.groupby("arm")["k"].first()


def distinction_table(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """`simulatability.accuracy_table` of per-participant accuracies with each arm's chance 1 / k."""
    chances = arm_chances(trials, participants)
    table = simulatability.accuracy_table(simulatability.participant_accuracies(trials, participants))
    table["chance"] = table["arm"].map(chances)
    return table


def binomial_tests(trials: pd.DataFrame, participants: pd.DataFrame | None = None,
                   confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per arm and subset (model correct, model incorrect, all): answers pooled over participants.

    n answers, n_right, accuracy = n_right / n, chance = 1 / k, pvalue of the exact one-sided
    binomial test (accuracy above chance, scipy.stats.binomtest) and the two-sided Clopper-Pearson
    interval [ci_low, ci_high] at `confidence`. Pooling treats answers as independent, which
    overstates the evidence when participants differ; the per-participant tests do not.
    Columns: BINOMIAL_COLUMNS.
    """
    frame = distinction_answers(trials, participants)
    rows = []
    for (arm, technique), group in frame.groupby(["arm", "technique"], sort=True):
        k = int(group["k"].iloc[0])
        for subset in [*simulatability.SUBSETS.values(), ALL]:
            answered = group if subset == ALL else group[group["subset"] == subset]
            if answered.empty:
                continue
            n, right = len(answered), int(answered["correct_guess"].sum())
            interval = stats.binomtest(right, n, 1 / k).proportion_ci(confidence, method="exact")
            rows.append({
                "arm": arm, "technique": technique, "subset": subset, "k": k, "n": n, "n_right": right,
                "accuracy": right / n, "chance": 1 / k,
                "pvalue": float(stats.binomtest(right, n, 1 / k, alternative="greater").pvalue),
                "ci_low": float(interval.low), "ci_high": float(interval.high),
            })
    return pd.DataFrame(rows, columns=list(BINOMIAL_COLUMNS))


def correct_class_accuracy(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per arm: n answers to the second question (which panel is the true class) and their
    accuracy in [0, 1]; trials where it was not asked (empty) are left out. Empty (same columns)
    when the column is absent or nobody answered it. Columns: CORRECT_CLASS_COLUMNS."""
    empty = pd.DataFrame(columns=list(CORRECT_CLASS_COLUMNS))
    if "correct_class_right" not in trials.columns:
        return empty
    frame = simulatability.answers(trials, participants)
    answer = frame["correct_class_right"]
    asked = answer.notna() & (answer.astype(str).str.strip() != "")
    frame = frame[asked]
    if frame.empty:
        return empty
    frame = frame.assign(correct_class_right=simulatability._bools(frame["correct_class_right"]))
    grouped = frame.groupby(["arm", "technique"], sort=True)["correct_class_right"]
    return grouped.agg(n="size", accuracy="mean").reset_index()[list(CORRECT_CLASS_COLUMNS)]
