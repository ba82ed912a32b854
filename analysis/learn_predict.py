"""Learn-then-predict statistics (Colin et al., NeurIPS 2022, "What I cannot predict, I do not understand").

Participants alternate training blocks (images with the model's decision and, per arm, an
explanation; the control arm, technique analysis.CONTROL_TECHNIQUE, sees the decision alone) and
test blocks (they predict the model's decision on new images).

Input: a long-format trials frame, simulatability.TRIAL_COLUMNS plus `round` (int, 1-based) and
`phase` ("train" or "test"); correct_guess is empty on training rows (as read from CSV, booleans
may be the strings "True"/"False"). Only test rows count, attention checks never; with a
participants frame only completed participants count. A participant's accuracy over all rounds
(round "all") is over all of their test answers, not the mean of their round accuracies.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import CONTROL_TECHNIQUE, simulatability
from analysis.errors import AnalysisError, MissingColumnsError
from analysis.reports import default_comparisons

PHASES = ("train", "test")
ALL_ROUNDS = "all"  # the `round` of rows over every test answer of a participant
ACCURACY_COLUMNS = ("participant", "arm", "technique", "round", "n_questions", "n_right", "accuracy")
CURVE_COLUMNS = ("arm", "technique", "round", "n", "mean", "se")
UTILITY_COLUMNS = ("arm", "technique", "control", "round", "n", "n_control", "accuracy", "control_accuracy",
                   "utility", "ci_low", "ci_high", "ci_degenerate")
ROUND_TEST_COLUMNS = ("round",) + simulatability.TEST_COLUMNS[1:]  # TEST_COLUMNS with round for subset


def test_accuracies(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per participant and test round: ACCURACY_COLUMNS (accuracy = n_right / n_questions in [0, 1]).

    Training rows are dropped before any boolean is read (their correct_guess is empty); attention
    checks are left out; only completed participants count when `participants` is given.
    """
    missing = [column for column in (*simulatability.TRIAL_COLUMNS, "round", "phase") if column not in trials]
    if missing:
        raise MissingColumnsError(f"the trials frame lacks column(s) {missing}")
    phase = trials["phase"].astype(str).str.strip().str.lower()
    unknown = set(phase) - set(PHASES)
    if unknown:
        raise AnalysisError(f"unknown phase(s) {sorted(unknown)}; expected {PHASES}")
    rounds = pd.to_numeric(trials["round"], errors="coerce")
    if rounds.isna().any() or (rounds < 1).any() or (rounds % 1 != 0).any():
        raise AnalysisError("column 'round' must hold integers >= 1")
    frame = trials.assign(round=rounds.astype(int))[phase == "test"]
    frame = simulatability.answers(frame, participants)
    grouped = frame.groupby(["participant", "arm", "technique", "round"], sort=True)
    result = grouped.agg(n_questions=("correct_guess", "size"),
                         n_right=("correct_guess", "sum")).reset_index()
    result["n_right"] = result["n_right"].astype(int)
    result["accuracy"] = result["n_right"] / result["n_questions"]
    return result[list(ACCURACY_COLUMNS)]


def learning_curve(accuracies: pd.DataFrame) -> pd.DataFrame:
    """Per arm and round: CURVE_COLUMNS, n participants, mean and SE (sample SD / sqrt n; NaN for
    one participant) of per-participant test accuracy."""
    _require_accuracies(accuracies)
    curve = (accuracies.groupby(["arm", "technique", "round"], sort=True)["accuracy"]
             .agg(n="size", mean="mean", se="sem").reset_index())
    return curve[list(CURVE_COLUMNS)]


def _require_accuracies(accuracies: pd.DataFrame) -> None:
    missing = [column for column in ACCURACY_COLUMNS if column not in accuracies.columns]
    if missing:
        raise MissingColumnsError(f"the accuracies frame lacks column(s) {missing}")


def with_all_rounds(accuracies: pd.DataFrame) -> pd.DataFrame:
    """`accuracies` plus one row per participant with round ALL_ROUNDS over all their test answers."""
    _require_accuracies(accuracies)
    pooled = (accuracies.groupby(["participant", "arm", "technique"], sort=True)[["n_questions", "n_right"]]
              .sum().reset_index())
    pooled["round"] = ALL_ROUNDS
    pooled["accuracy"] = pooled["n_right"] / pooled["n_questions"]
    return pd.concat([accuracies.astype({"round": object}), pooled[list(ACCURACY_COLUMNS)]],
                     ignore_index=True)


def _by_round(frame: pd.DataFrame):
    """(round, rows) of a `with_all_rounds` frame: rounds in ascending order, then ALL_ROUNDS."""
    rounds = sorted(r for r in set(frame["round"]) if r != ALL_ROUNDS) + [ALL_ROUNDS]
    return [(round_, frame[frame["round"] == round_]) for round_ in rounds]


def _control_arm(accuracies: pd.DataFrame, control: str | None) -> str:
    arms = accuracies.drop_duplicates("arm").set_index("arm")["technique"]
    if control is not None:
        if control not in arms.index:
            raise AnalysisError(f"no accuracies for control arm {control!r}; arms are {sorted(arms.index)}")
        return control
    controls = sorted(arms.index[arms == CONTROL_TECHNIQUE])
    if len(controls) != 1:
        raise AnalysisError(f"utility needs one control arm (technique {CONTROL_TECHNIQUE!r}), "
                            f"found {controls}; name it with control=")
    return controls[0]


def utility(
    accuracies: pd.DataFrame,
    control: str | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Utility of each explained arm: its mean per-participant accuracy / the control arm's, per round
    (rounds where both arms were tested) and over all rounds (round ALL_ROUNDS).

    control: the control arm's name (default: the one arm of technique CONTROL_TECHNIQUE).
    ci_low, ci_high: percentile bootstrap interval at `confidence`, participants resampled with
    replacement within each arm independently, `n_boot` resamples from `numpy.random.default_rng(seed)`
    (a fresh generator per row); a resample whose control mean is 0 counts as an infinite ratio
    (so ci_high may be inf).
    ci_degenerate: every resample gave the same ratio. A row whose control mean is 0 has utility inf (NaN
    when the arm's is 0 too), the other rows are unaffected. Columns: UTILITY_COLUMNS.
    AnalysisError when there is no control arm.
    """
    control = _control_arm(accuracies, control)
    everything = with_all_rounds(accuracies)
    rows = []
    tail = (1 - confidence) / 2 * 100
    if not 0 < confidence < 1 or n_boot < 1:
        raise AnalysisError(f"confidence must be in (0, 1) and n_boot >= 1, got {confidence} and {n_boot}")
    for (arm, technique), in_arm in everything.groupby(["arm", "technique"], sort=True):
        if arm == control:
            continue
        for round_, group in _by_round(in_arm):
            in_control = (everything["arm"] == control) & (everything["round"] == round_)
            base = everything.loc[in_control, "accuracy"]
            if base.empty:
                continue
            a, c = group["accuracy"].to_numpy(float), base.to_numpy(float)
            rng = np.random.default_rng(seed)
            boot_a = a[rng.integers(0, a.size, (n_boot, a.size))].mean(axis=1)
            boot_c = c[rng.integers(0, c.size, (n_boot, c.size))].mean(axis=1)
            ratios = np.divide(boot_a, boot_c, out=np.full(n_boot, np.inf), where=boot_c > 0)
            low, high = _percentiles(ratios, [tail, 100 - tail])
            rows.append({"arm": arm, "technique": technique, "control": control, "round": round_, "n": a.size,
                         "n_control": c.size, "accuracy": a.mean(), "control_accuracy": c.mean(),
                         "utility": ratio(a.mean(), c.mean()), "ci_low": float(low), "ci_high": float(high),
                         "ci_degenerate": bool(np.all(ratios == ratios[0]))})
    return pd.DataFrame(rows, columns=list(UTILITY_COLUMNS))


def ratio(a: float, b: float) -> float:
    """a / b, inf for b = 0 < a and NaN for 0 / 0."""
    return a / b if b else (np.inf if a else np.nan)


def _percentiles(values: np.ndarray, percents: list[float]) -> np.ndarray:
    """np.percentile (linear) of `values` `(n,)` that may hold +inf: a percentile interpolated towards an
    infinite value is infinite (numpy alone gives NaN or a wrong finite value there)."""
    finite = values[np.isfinite(values)]
    clipped = np.percentile(np.minimum(values, np.finfo(float).max), percents)
    return np.where(clipped > (finite.max() if finite.size else -np.inf), np.inf, clipped)


def _alternative(alternatives: dict[str, str] | None) -> str:
    """The one alternative a pair holds in every subset (control vs explained: "less"), else two-sided."""
    values = set((alternatives or {}).values())
    return values.pop() if len(values) == 1 else "two-sided"


def compare_rounds(accuracies: pd.DataFrame, method: str = "auto", seed: int = 0) -> pd.DataFrame:
    """Mann-Whitney U of per-participant test accuracies per round (and over all rounds, round
    ALL_ROUNDS) for the arm pairs of `reports.default_comparisons`: a control arm first and one-sided
    ("less": the explained arm is more accurate), other pairs two-sided (the PV paper's subset-wise
    hypotheses point both ways, so they give no direction for accuracy over all images).

    method: how p is computed (`simulatability.mann_whitney`). Columns: ROUND_TEST_COLUMNS.
    """
    everything = with_all_rounds(accuracies)
    rows = []
    for first, second, alternatives in default_comparisons(accuracies):
        alternative = _alternative(alternatives)
        for round_, group in _by_round(everything):
            a = group.loc[group["arm"] == first, "accuracy"].to_numpy()
            b = group.loc[group["arm"] == second, "accuracy"].to_numpy()
            if a.size == 0 or b.size == 0:
                continue
            result = simulatability.mann_whitney(a, b, alternative, method=method, seed=seed)
            rows.append({"round": round_, "first": first, "second": second, "alternative": alternative,
                         **simulatability.result_columns(result)})
    return pd.DataFrame(rows, columns=list(ROUND_TEST_COLUMNS))
