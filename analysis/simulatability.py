"""Simulatability statistics of the PV paper, from the survey export.

Input frames (plain pandas, one row per answered question / per participant):

- trials: participant, arm, technique, item, model_correct (bool), is_attention_check (bool),
  correct_guess (bool: the participant named the model's prediction), cant_tell (bool), ...
- participants: participant, arm, technique, status (active/completed/withdrawn/dropped),
  n_answered, attention_failures, ...

Attention-check rows never count towards accuracies. "I just can't tell" counts as a wrong
guess in accuracies and is reported on its own as a rate. Subsets are named by SUBSETS.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from analysis.errors import AnalysisError, MissingColumnsError

CHANCE = 0.25  # four real options per question
SUBSETS = {True: "model correct", False: "model incorrect"}
TRIAL_COLUMNS = ("participant", "arm", "technique", "item", "model_correct", "is_attention_check",
                 "correct_guess", "cant_tell")
PARTICIPANT_COLUMNS = ("participant", "arm", "technique", "status", "attention_failures")
STATUSES = ("active", "completed", "withdrawn", "dropped")
ALTERNATIVES = ("two-sided", "less", "greater")
# The PV paper's hypotheses with Grad-CAM first: lower accuracy when the model is wrong, higher when right.
PAPER_ALTERNATIVES = {"model incorrect": "less", "model correct": "greater"}
TEST_COLUMNS = ("subset", "first", "second", "alternative", "n_first", "n_second", "u", "z", "pvalue", "effect",
                "ci_low", "ci_high")


def _require(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise MissingColumnsError(f"the {name} frame lacks column(s) {missing}")


def _bools(column: pd.Series) -> pd.Series:
    """A boolean column read from a frame or a CSV (True/False, true/false, 1/0)."""
    if column.dtype == bool:
        return column
    mapped = column.astype(str).str.strip().str.lower().map({"true": True, "1": True, "false": False, "0": False})
    if mapped.isna().any():
        raise AnalysisError(f"column {column.name!r} holds values that are not booleans")
    return mapped.astype(bool)


def answers(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """The answered, non-attention-check rows with boolean columns and a `subset` column.

    With `participants`, only those whose status is "completed" are kept.
    """
    _require(trials, TRIAL_COLUMNS, "trials")
    frame = trials.copy()
    for column in ("model_correct", "is_attention_check", "correct_guess", "cant_tell"):
        frame[column] = _bools(frame[column])
    frame = frame[~frame["is_attention_check"]]
    if participants is not None:
        _require(participants, PARTICIPANT_COLUMNS, "participants")
        completed = participants.loc[participants["status"] == "completed", "participant"]
        frame = frame[frame["participant"].isin(completed)]
    frame["subset"] = frame["model_correct"].map(SUBSETS)
    return frame


def participant_accuracies(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per participant and subset: arm, technique, subset, n_questions, n_right, accuracy in [0, 1].

    With `participants`, only completed participants count (as in the paper).
    """
    frame = answers(trials, participants)
    grouped = frame.groupby(["participant", "arm", "technique", "subset"], sort=True)
    result = grouped.agg(n_questions=("correct_guess", "size"), n_right=("correct_guess", "sum")).reset_index()
    result["accuracy"] = result["n_right"] / result["n_questions"]
    return result


def accuracy_table(accuracies: pd.DataFrame, chance: float = CHANCE) -> pd.DataFrame:
    """Table 1 of the paper: per arm and subset, n participants, mean and standard error of accuracy.

    Columns: arm, technique, subset, n, mean, se (sample SD / sqrt n), chance.
    """
    _require(accuracies, ("arm", "technique", "subset", "accuracy"), "accuracies")
    table = (
        accuracies.groupby(["arm", "technique", "subset"], sort=False)["accuracy"]
        .agg(n="size", mean="mean", se="sem")
        .reset_index()
    )
    table["chance"] = chance
    return table


@dataclass(frozen=True)
class MannWhitney:
    """Mann-Whitney U of sample a vs b, normal approximation with tie correction.

    u: U of a (pairs with a > b, ties counting 1/2); z: its standard score (continuity-corrected
    when asked); pvalue for `alternative` ("less": a tends lower); effect: rank-biserial
    correlation 2U / (n_a n_b) - 1 in [-1, 1], > 0 when a tends higher, with a percentile
    bootstrap confidence interval [ci_low, ci_high].
    """

    u: float
    z: float
    pvalue: float
    alternative: str
    n_a: int
    n_b: int
    effect: float
    ci_low: float
    ci_high: float
    continuity: bool


def mann_whitney(
    a: np.ndarray,
    b: np.ndarray,
    alternative: str = "two-sided",
    continuity: bool = False,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> MannWhitney:
    """Mann-Whitney U test of `a` `(n_a,)` vs `b` `(n_b,)` (normal approximation, tie-corrected).

    p-values match `scipy.stats.mannwhitneyu(a, b, alternative, use_continuity=continuity,
    method="asymptotic")`; the PV paper reports this test without continuity correction.
    """
    if alternative not in ALTERNATIVES:
        raise AnalysisError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.size == 0 or b.size == 0:
        raise AnalysisError("mann_whitney needs two non-empty 1-D samples")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise AnalysisError("mann_whitney samples contain NaN or infinite values")
    n_a, n_b = a.size, b.size
    pooled = np.concatenate([a, b])
    ranks = stats.rankdata(pooled)
    u = ranks[:n_a].sum() - n_a * (n_a + 1) / 2
    _, tie_counts = np.unique(pooled, return_counts=True)
    n = n_a + n_b
    variance = n_a * n_b / 12 * ((n + 1) - np.sum(tie_counts**3 - tie_counts) / (n * (n - 1)))
    shift = u - n_a * n_b / 2
    if continuity:  # half a unit towards the null, never past it
        if alternative == "two-sided":
            shift = np.sign(shift) * max(abs(shift) - 0.5, 0.0)
        else:
            shift -= 0.5 if alternative == "greater" else -0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        z = shift / np.sqrt(variance) if variance > 0 else np.nan
    if alternative == "less":
        pvalue = stats.norm.cdf(z)
    elif alternative == "greater":
        pvalue = stats.norm.sf(z)
    else:
        pvalue = min(1.0, 2 * stats.norm.sf(abs(z)))
    low, high = _bootstrap_effect(a, b, n_boot, confidence, seed)
    return MannWhitney(
        u=float(u), z=float(z), pvalue=float(pvalue), alternative=alternative, n_a=n_a, n_b=n_b,
        effect=float(2 * u / (n_a * n_b) - 1), ci_low=low, ci_high=high, continuity=continuity,
    )


def _bootstrap_effect(a: np.ndarray, b: np.ndarray, n_boot: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of the rank-biserial correlation, resampling a and b apart."""
    rng = np.random.default_rng(seed)
    effects = np.empty(n_boot)
    for start in range(0, n_boot, 200):  # (200, n_a, n_b) comparisons at a time
        count = min(200, n_boot - start)
        ra = a[rng.integers(0, a.size, (count, a.size))][:, :, None]
        rb = b[rng.integers(0, b.size, (count, b.size))][:, None, :]
        effects[start:start + count] = np.mean((ra > rb) + 0.5 * (ra == rb), axis=(1, 2)) * 2 - 1
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(effects, [tail, 100 - tail])
    return float(low), float(high)


def compare_arms(
    accuracies: pd.DataFrame,
    first: str,
    second: str,
    alternatives: dict[str, str] | None = None,
    continuity: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Mann-Whitney U of per-participant accuracies, arm `first` vs `second`, per subset.

    alternatives: subset -> "less" / "greater" / "two-sided" (default two-sided); PAPER_ALTERNATIVES
    are the paper's with Grad-CAM first. Columns: subset, first, second, alternative, n_first,
    n_second, u, z, pvalue, effect, ci_low, ci_high.
    """
    _require(accuracies, ("arm", "subset", "accuracy"), "accuracies")
    arms = set(accuracies["arm"])
    for arm in (first, second):
        if arm not in arms:
            raise AnalysisError(f"no accuracies for arm {arm!r}; arms are {sorted(arms)}")
    rows = []
    for subset in SUBSETS.values():
        in_subset = accuracies[accuracies["subset"] == subset]
        a = in_subset.loc[in_subset["arm"] == first, "accuracy"].to_numpy()
        b = in_subset.loc[in_subset["arm"] == second, "accuracy"].to_numpy()
        if a.size == 0 or b.size == 0:
            continue
        alternative = (alternatives or {}).get(subset, "two-sided")
        result = mann_whitney(a, b, alternative, continuity=continuity, seed=seed)
        rows.append({
            "subset": subset, "first": first, "second": second, "alternative": alternative,
            "n_first": result.n_a, "n_second": result.n_b, "u": result.u, "z": result.z,
            "pvalue": result.pvalue, "effect": result.effect, "ci_low": result.ci_low, "ci_high": result.ci_high,
        })
    return pd.DataFrame(rows, columns=list(TEST_COLUMNS))


def cant_tell_rates(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per arm and subset: n participants, mean and SE of each participant's "can't tell" rate."""
    frame = answers(trials, participants)
    per_participant = frame.groupby(["participant", "arm", "technique", "subset"])["cant_tell"].mean()
    return (
        per_participant.groupby(["arm", "technique", "subset"]).agg(n="size", mean="mean", se="sem").reset_index()
    )


def question_accuracies(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per item and arm: subset, n answers, accuracy and "can't tell" rate (0..1)."""
    frame = answers(trials, participants)
    grouped = frame.groupby(["item", "subset", "arm", "technique"])
    return grouped.agg(n=("correct_guess", "size"), accuracy=("correct_guess", "mean"),
                       cant_tell=("cant_tell", "mean")).reset_index()


def participation_summary(participants: pd.DataFrame) -> pd.DataFrame:
    """Per arm: counts by status, drop-out rate (dropped + withdrawn) / consented, and attention
    checks: participants with at least one failure, their share, mean failures per participant."""
    _require(participants, PARTICIPANT_COLUMNS, "participants")
    unknown = set(participants["status"]) - set(STATUSES)
    if unknown:
        raise AnalysisError(f"unknown participant status(es) {sorted(unknown)}; expected {STATUSES}")
    counts = pd.crosstab([participants["arm"], participants["technique"]], participants["status"])
    counts = counts.reindex(columns=list(STATUSES), fill_value=0)
    summary = counts.reset_index()
    summary.columns.name = None
    summary["consented"] = counts.sum(axis=1).to_numpy()
    summary["dropout_rate"] = (summary["dropped"] + summary["withdrawn"]) / summary["consented"]
    failures = participants.groupby(["arm", "technique"])["attention_failures"]
    attention = pd.DataFrame({
        "failed_attention": failures.apply(lambda f: int((f > 0).sum())),
        "mean_attention_failures": failures.mean(),
    }).reset_index()
    summary = summary.merge(attention, on=["arm", "technique"])
    summary["failed_attention_rate"] = summary["failed_attention"] / summary["consented"]
    return summary


def plot_histograms(accuracies: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """The paper's Figure 6: histograms of per-participant accuracy, one PNG per subset, arms side by side.

    Writes `histogram_model_correct.png` and `histogram_model_incorrect.png` (each written to a
    temporary name, then renamed) and returns their paths.
    """
    _require(accuracies, ("arm", "subset", "accuracy", "n_questions"), "accuracies")
    out_dir = Path(out_dir)
    arms = list(dict.fromkeys(accuracies["arm"]))
    paths = []
    for subset in SUBSETS.values():
        in_subset = accuracies[accuracies["subset"] == subset]
        if in_subset.empty:
            continue
        n_questions = int(in_subset["n_questions"].max())
        bins = (np.arange(n_questions + 2) - 0.5) / n_questions  # one bin per possible score k / n
        figure = Figure(figsize=(4 * len(arms), 3))  # no pyplot: no global backend, safe in threads
        axes = figure.subplots(1, len(arms), sharey=True, squeeze=False)
        for axis, arm in zip(axes[0], arms):
            values = in_subset.loc[in_subset["arm"] == arm, "accuracy"]
            axis.hist(values, bins=bins, color="0.35", edgecolor="white")
            axis.axvline(CHANCE, color="tab:red", linestyle="--", linewidth=1, label="chance")
            axis.set(title=f"{arm} (n = {len(values)})", xlabel="accuracy", xlim=(-0.05, 1.05))
        axes[0][0].set_ylabel("participants")
        axes[0][0].legend(frameon=False)
        figure.suptitle(subset.capitalize())
        figure.tight_layout()
        path = out_dir / f"histogram_{subset.replace(' ', '_')}.png"
        _save_figure(figure, path)
        paths.append(path)
    return paths


def _save_figure(figure: Figure, path: Path) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=120)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@dataclass(frozen=True)
class MixedModel:
    """Mixed-effects logistic model of correct guesses (variational Bayes fit).

    fixed: term, estimate (log-odds), sd, z (estimate / sd), both posterior; random_sd: the
    posterior mean standard deviation (log-odds) of the participant and item effects.
    """

    fixed: pd.DataFrame
    random_sd: dict[str, float]
    n_answers: int


def mixed_effects_model(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> MixedModel:
    """correct_guess ~ arm * model_correct, random intercepts per participant and per item.

    The arm first in alphabetical order is the reference level of the `C(arm)[T.<arm>]` terms.

    statsmodels' BinomialBayesMixedGLM fitted by variational Bayes (its Laplace fit does not
    converge on a study of the paper's size); per-participant tests ignore item difficulty, this
    model does not. Mean-field posterior SDs run small, so read z as a rough guide only.
    """
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    frame = answers(trials, participants)
    if frame["arm"].nunique() < 2 or frame["participant"].nunique() < 3 or frame["item"].nunique() < 3:
        raise AnalysisError("the mixed model needs two arms and at least three participants and items")
    frame = frame.assign(
        guessed=frame["correct_guess"].astype(float),
        model_right=frame["model_correct"].astype(float),
        participant=frame["participant"].astype(str),
        item=frame["item"].astype(str),
    )
    model = BinomialBayesMixedGLM.from_formula(
        "guessed ~ C(arm) * model_right",
        {"participant": "0 + C(participant)", "item": "0 + C(item)"},
        frame,
    )
    result = model.fit_vb()
    fixed = pd.DataFrame({"term": model.exog_names, "estimate": result.fe_mean, "sd": result.fe_sd})
    fixed["z"] = fixed["estimate"] / fixed["sd"]
    random_sd = {name: float(np.exp(mean)) for name, mean in zip(model.vcp_names, result.vcp_mean)}
    return MixedModel(fixed=fixed, random_sd=random_sd, n_answers=len(frame))
