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
from matplotlib.ticker import MaxNLocator
from scipy import stats

from analysis.errors import AnalysisError, MissingColumnsError

CHANCE = 0.25  # four real options per question
SUBSETS = {True: "model correct", False: "model incorrect"}
TRIAL_COLUMNS = ("participant", "arm", "technique", "item", "model_correct", "is_attention_check",
                 "correct_guess", "cant_tell")
PARTICIPANT_COLUMNS = ("participant", "arm", "technique", "status", "attention_failures")
STATUSES = ("active", "completed", "withdrawn", "dropped")
ALTERNATIVES = ("two-sided", "less", "greater")
METHODS = ("auto", "exact", "asymptotic")
EXACT_MAX_TOTAL = 60  # "auto": exact p-values up to n_a + n_b = 60 participants, normal approximation above
PERMUTATION_CELLS = 50_000_000  # at most 400 MB for the exact permutation distribution with ties
SMALL_ARM = 10  # fewer participants than this in an arm: a warning in every table and report
# The PV paper's hypotheses with Grad-CAM first: lower accuracy when the model is wrong, higher when right.
PAPER_ALTERNATIVES = {"model incorrect": "less", "model correct": "greater"}
# A control arm (technique analysis.CONTROL_TECHNIQUE, first) vs an explained arm: the explained arm
# is more accurate in both subsets.
CONTROL_ALTERNATIVES = {"model correct": "less", "model incorrect": "less"}
# The paper's convention: those one-sided hypotheses, the normal approximation, no continuity correction.
PAPER_CONVENTION = {"alternatives": PAPER_ALTERNATIVES, "method": "asymptotic", "continuity": False}
TEST_COLUMNS = ("subset", "first", "second", "alternative", "method", "n_first", "n_second", "u", "z",
                "pvalue", "effect", "ci_low", "ci_high", "common_language", "cl_low", "cl_high",
                "ci_degenerate", "warning")

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
    """Mann-Whitney U of sample a vs b.

    u: U of a (pairs with a > b, ties counting 1/2); z: its standard score under the normal
    approximation with tie correction (continuity-corrected when asked), reported whatever the
    p-value's method; pvalue for `alternative` ("less": a tends lower), computed by `method`
    (see `mann_whitney`). effect: rank-biserial correlation 2U / (n_a n_b) - 1 in [-1, 1], > 0 when
    a tends higher; common_language: U / (n_a n_b) = P(a > b) + P(a = b) / 2 in [0, 1]; each with
    a percentile bootstrap interval. ci_degenerate: every resample gave the same value (complete
    separation, or one participant in an arm), so the interval carries no information.
    warning: "" or why the result needs care (an arm smaller than SMALL_ARM).
    """

    u: float
    z: float
    pvalue: float
    alternative: str
    method: str
    n_a: int
    n_b: int
    effect: float
    ci_low: float
    ci_high: float
    common_language: float
    cl_low: float
    cl_high: float
    ci_degenerate: bool
    continuity: bool
    warning: str


def mann_whitney(
    a: np.ndarray,
    b: np.ndarray,
    alternative: str = "two-sided",
    method: str = "auto",
    continuity: bool = False,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> MannWhitney:
    """Mann-Whitney U test of `a` `(n_a,)` vs `b` `(n_b,)`.

    method "exact": without ties, scipy's exact null distribution of U; with ties, the exact
    permutation distribution of U given the tied ranks (every split of the pooled sample, counted
    by dynamic programming, so no random draws). "asymptotic": the normal approximation with
    tie correction (the PV paper's, which uses no continuity correction). "auto": exact when
    n_a + n_b <= EXACT_MAX_TOTAL, else asymptotic. p-values equal `scipy.stats.mannwhitneyu(a, b,
    alternative, use_continuity=continuity, method=...)` with "exact" (no ties), "asymptotic",
    or an exhaustive `PermutationMethod` (ties); continuity only affects the asymptotic method. When
    every value is tied, U sits at its null mean: z = 0 and p = 1 by every method (as scipy with
    continuity and the exact permutation give; scipy without continuity gives NaN).
    """
    if alternative not in ALTERNATIVES:
        raise AnalysisError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if method not in METHODS:
        raise AnalysisError(f"method must be one of {METHODS}, got {method!r}")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.size == 0 or b.size == 0:
        raise AnalysisError("mann_whitney needs two non-empty 1-D samples")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise AnalysisError("mann_whitney samples contain NaN or infinite values")
    n_a, n_b = a.size, b.size
    n = n_a + n_b
    pooled = np.concatenate([a, b])
    ranks = stats.rankdata(pooled)
    u = ranks[:n_a].sum() - n_a * (n_a + 1) / 2
    _, tie_counts = np.unique(pooled, return_counts=True)
    ties = bool((tie_counts > 1).any())
    variance = n_a * n_b / 12 * ((n + 1) - np.sum(tie_counts**3 - tie_counts) / (n * (n - 1)))
    z = _z_score(u - n_a * n_b / 2, variance, alternative, continuity)
    if method == "auto":
        method = "exact" if n <= EXACT_MAX_TOTAL else "asymptotic"
    if method == "asymptotic":
        label = "normal approximation" + (", continuity-corrected" if continuity else "")
        pvalue = _normal_pvalue(z, alternative) if variance > 0 else 1.0  # all tied: U at its null mean
    elif ties:
        label = "exact permutation (ties)"
        pvalue = _permutation_pvalue(ranks, n_a, alternative)
    else:
        label = "exact"
        pvalue = float(stats.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue)
    cl_low, cl_high = _bootstrap_common_language(a, b, n_boot, confidence, seed)
    common_language = u / (n_a * n_b)
    warning = (f"fewer than {SMALL_ARM} participants in an arm ({n_a} vs {n_b}): a pilot, not a result"
               if min(n_a, n_b) < SMALL_ARM else "")
    return MannWhitney(
        u=float(u), z=float(z), pvalue=float(pvalue), alternative=alternative, method=label, n_a=n_a, n_b=n_b,
        effect=float(2 * common_language - 1), ci_low=2 * cl_low - 1, ci_high=2 * cl_high - 1,
        common_language=float(common_language), cl_low=cl_low, cl_high=cl_high,
        ci_degenerate=cl_low == cl_high,
        continuity=continuity, warning=warning,
    )


def _z_score(shift: float, variance: float, alternative: str, continuity: bool) -> float:
    """(U - n_a n_b / 2) / SD, the continuity correction moving half a unit towards the null."""
    if continuity:
        if alternative == "two-sided":
            shift = np.sign(shift) * max(abs(shift) - 0.5, 0.0)
        else:
            shift -= 0.5 if alternative == "greater" else -0.5
    return shift / np.sqrt(variance) if variance > 0 else 0.0  # no variance: all tied, U at its mean


def _normal_pvalue(z: float, alternative: str) -> float:
    if alternative == "less":
        return float(stats.norm.cdf(z))
    if alternative == "greater":
        return float(stats.norm.sf(z))
    return float(min(1.0, 2 * stats.norm.sf(abs(z))))


def _permutation_pvalue(ranks: np.ndarray, n_a: int, alternative: str) -> float:
    """p of the rank sum of the first `n_a` of `ranks` `(n,)` (mid-ranks) over all splits.

    counts[k, s]: how many k-subsets of the ranks seen so far have doubled rank sum s (mid-ranks
    are halves, so doubled they are integers and the distribution is exact). The smaller sample's
    sum is counted (the larger one's is the total minus it, so "less" turns into "greater").
    """
    doubled = np.rint(2 * ranks).astype(np.int64)
    total = int(doubled.sum())
    observed = int(doubled[:n_a].sum())
    if n_a > ranks.size - n_a:
        n_a, observed = ranks.size - n_a, total - observed
        alternative = {"less": "greater", "greater": "less"}.get(alternative, alternative)
    if (n_a + 1) * (total + 1) > PERMUTATION_CELLS:
        raise AnalysisError(f"an exact p with ties for {ranks.size} participants needs too large a table; "
                            "use method='asymptotic' (or 'auto')")
    counts = np.zeros((n_a + 1, total + 1))
    counts[0, 0] = 1.0
    for rank in doubled:
        counts[1:, rank:] += counts[:-1, :-rank].copy()
    null = counts[n_a] / counts[n_a].sum()
    less, greater = null[:observed + 1].sum(), null[observed:].sum()
    if alternative == "less":
        return float(min(less, 1.0))
    if alternative == "greater":
        return float(min(greater, 1.0))
    return float(min(1.0, 2 * min(less, greater)))


def _bootstrap_common_language(
    a: np.ndarray, b: np.ndarray, n_boot: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of P(a > b) + P(a = b) / 2, resampling a and b apart."""
    rng = np.random.default_rng(seed)
    effects = np.empty(n_boot)
    for start in range(0, n_boot, 200):  # (200, n_a, n_b) comparisons at a time
        count = min(200, n_boot - start)
        ra = a[rng.integers(0, a.size, (count, a.size))][:, :, None]
        rb = b[rng.integers(0, b.size, (count, b.size))][:, None, :]
        effects[start:start + count] = np.mean((ra > rb) + 0.5 * (ra == rb), axis=(1, 2))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(effects, [tail, 100 - tail])
    return float(low), float(high)


def compare_arms(
    accuracies: pd.DataFrame,
    first: str,
    second: str,
    alternatives: dict[str, str] | None = None,
    method: str = "auto",
    continuity: bool = False,
    seed: int = 0,
) -> pd.DataFrame:
    """Mann-Whitney U of per-participant accuracies, arm `first` vs `second`, per subset.

    alternatives: subset -> "less" / "greater" / "two-sided" (default two-sided); method as in
    `mann_whitney`. `compare_arms(acc, gradcam, pv, **PAPER_CONVENTION)` is the PV paper's test.
    Columns: TEST_COLUMNS (method names how each p was computed; warning is "" or why to care).
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
        result = mann_whitney(a, b, alternative, method=method, continuity=continuity, seed=seed)
        rows.append({
            "subset": subset, "first": first, "second": second, "alternative": alternative,
            **result_columns(result),
        })
    return pd.DataFrame(rows, columns=list(TEST_COLUMNS))


def result_columns(result: MannWhitney) -> dict:
    """A test's TEST_COLUMNS from `method` on: how p was computed, the sizes, U, z, p and the effects."""
    return {
        "method": result.method, "n_first": result.n_a, "n_second": result.n_b, "u": result.u,
        "z": result.z, "pvalue": result.pvalue, "effect": result.effect, "ci_low": result.ci_low,
        "ci_high": result.ci_high, "common_language": result.common_language, "cl_low": result.cl_low,
        "cl_high": result.cl_high, "ci_degenerate": result.ci_degenerate, "warning": result.warning,
    }


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


def accuracy_by_confidence(trials: pd.DataFrame, participants: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per arm and confidence level: n_participants, n_answers, accuracy (share of right guesses, 0..1) and
    its SE (sqrt(p (1 - p) / n_answers)); answers without a rating are left out, attention checks too.

    trials needs a `confidence` column (integer levels 1..N, empty when not asked); only completed
    participants count when `participants` is given. Empty (same columns) when nobody rated.
    """
    _require(trials, ("confidence",), "trials")
    frame = answers(trials, participants)
    frame = frame[frame["confidence"].notna()].astype({"confidence": int})
    grouped = frame.groupby(["arm", "technique", "confidence"], sort=True)
    table = grouped.agg(n_participants=("participant", "nunique"), n_answers=("correct_guess", "size"),
                        accuracy=("correct_guess", "mean")).reset_index()
    table["se"] = np.sqrt(table["accuracy"] * (1 - table["accuracy"]) / table["n_answers"])
    return table


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
            axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.2 participants
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
