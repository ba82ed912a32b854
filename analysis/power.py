"""Power and sample size of a simulatability study, by simulating the whole analysis.

Each simulated study draws, per arm, `n_per_arm` participants whose true accuracy comes from a
beta distribution (mean `accuracy`, between-participant SD `skill_sd`; 0 = everyone the same),
lets each answer `n_questions` questions (binomial), turns the answers into per-participant
accuracies and runs the Mann-Whitney U test on them with the normal approximation and tie
correction (`scipy.stats.mannwhitneyu`, vectorised over studies). Power is the share of studies
with p < alpha. The same seed gives the same answer.

Small studies are analysed with exact p-values (`simulatability.mann_whitney`, "auto"); those
are a little more conservative than the normal approximation simulated here, so treat a sample
size below about 30 per arm as a lower bound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import AnalysisError
from analysis.simulatability import ALTERNATIVES


@dataclass(frozen=True)
class Arm:
    """Expected accuracy of one arm, in [0, 1], and the SD of participants' true accuracies around it."""

    accuracy: float
    skill_sd: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.accuracy <= 1:
            raise AnalysisError(f"an arm's accuracy must lie in [0, 1], got {self.accuracy}")
        limit = self.accuracy * (1 - self.accuracy)
        if self.skill_sd < 0 or (self.skill_sd > 0 and self.skill_sd**2 >= limit):
            raise AnalysisError(
                f"skill_sd must be >= 0 and below sqrt(accuracy (1 - accuracy)) = "
                f"{np.sqrt(self.accuracy * (1 - self.accuracy)):.3f}, got {self.skill_sd}"
            )


@dataclass(frozen=True)
class Power:
    """Simulated power at `n_per_arm` participants per arm; se is its Monte Carlo standard error."""

    n_per_arm: int
    power: float
    se: float
    n_simulations: int
    alpha: float
    alternative: str


def simulate_accuracies(arm: Arm, n_participants: int, n_questions: int, n_simulations: int,
                        rng: np.random.Generator) -> np.ndarray:
    """`(n_simulations, n_participants)` per-participant accuracies k / n_questions."""
    if arm.skill_sd > 0:
        concentration = arm.accuracy * (1 - arm.accuracy) / arm.skill_sd**2 - 1
        skills = rng.beta(arm.accuracy * concentration, (1 - arm.accuracy) * concentration,
                          (n_simulations, n_participants))
    else:
        skills = np.full((n_simulations, n_participants), arm.accuracy)
    return rng.binomial(n_questions, skills) / n_questions


def simulated_power(
    first: Arm,
    second: Arm,
    n_per_arm: int,
    n_questions: int,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    n_simulations: int = 2000,
    seed: int = 0,
) -> Power:
    """Share of `n_simulations` simulated studies (first vs second arm) whose Mann-Whitney p < alpha.

    alternative as in `simulatability.mann_whitney`: "less" means the first arm tends lower.
    """
    _check(n_questions, alpha, alternative, n_simulations)
    if n_per_arm < 1:
        raise AnalysisError(f"n_per_arm must be at least 1, got {n_per_arm}")
    rng = np.random.default_rng(seed)
    a = simulate_accuracies(first, n_per_arm, n_questions, n_simulations, rng)
    b = simulate_accuracies(second, n_per_arm, n_questions, n_simulations, rng)
    with np.errstate(invalid="ignore", divide="ignore"):  # a study where every accuracy ties has no p
        pvalues = stats.mannwhitneyu(a, b, alternative=alternative, use_continuity=False, method="asymptotic",
                                     axis=1).pvalue
    power = float(np.mean(pvalues < alpha))  # NaN (no variation) never rejects
    return Power(n_per_arm, power, float(np.sqrt(power * (1 - power) / n_simulations)), n_simulations, alpha,
                 alternative)


def sample_size(
    first: Arm,
    second: Arm,
    n_questions: int,
    power: float = 0.8,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    n_simulations: int = 2000,
    seed: int = 0,
    max_per_arm: int = 1000,
) -> Power:
    """The fewest participants per arm whose simulated power reaches `power`, and that power.

    Doubles n until the power is reached, then bisects (each n simulated with the same seed).
    Raises AnalysisError when `max_per_arm` is not enough.
    """
    if not 0 < power < 1:
        raise AnalysisError(f"power must lie in (0, 1), got {power}")

    def at(n: int) -> Power:
        return simulated_power(first, second, n, n_questions, alpha, alternative, n_simulations, seed)

    low, high = 1, 2
    while (result := at(high)).power < power:
        if high >= max_per_arm:
            raise AnalysisError(
                f"even {max_per_arm} participants per arm reach only power {result.power:.2f} "
                f"(accuracies {first.accuracy:.3f} vs {second.accuracy:.3f}, {alternative})"
            )
        low, high = high, min(2 * high, max_per_arm)
    best = result
    while high - low > 1:  # power(low) < target <= power(high)
        middle = (low + high) // 2
        result = at(middle)
        if result.power >= power:
            high, best = middle, result
        else:
            low = middle
    return best


def arms_from_pilot(accuracies: pd.DataFrame, subset: str) -> dict[str, tuple[Arm, int]]:
    """Per arm of a pilot: (Arm, n_questions) from its per-participant accuracies in `subset`.

    accuracies: `simulatability.participant_accuracies` output. The skill SD comes from the
    method of moments: observed variance minus the binomial variance of n_questions answers,
    floored at 0 and capped below the beta's limit.
    """
    rows = accuracies[accuracies["subset"] == subset]
    if rows.empty:
        raise AnalysisError(f"the pilot has no accuracies for subset {subset!r}")
    arms = {}
    for arm, group in rows.groupby("arm", sort=False):
        mean = float(group["accuracy"].mean())
        n_questions = int(round(group["n_questions"].mean()))
        observed = float(group["accuracy"].var(ddof=1)) if len(group) > 1 else 0.0
        skill_var = max(observed - mean * (1 - mean) / n_questions, 0.0)
        skill_sd = min(np.sqrt(skill_var), 0.99 * np.sqrt(mean * (1 - mean)))
        arms[arm] = (Arm(mean, float(skill_sd)), n_questions)
    return arms


def _check(n_questions: int, alpha: float, alternative: str, n_simulations: int) -> None:
    if n_questions < 1:
        raise AnalysisError(f"n_questions must be at least 1, got {n_questions}")
    if not 0 < alpha < 1:
        raise AnalysisError(f"alpha must lie in (0, 1), got {alpha}")
    if alternative not in ALTERNATIVES:
        raise AnalysisError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if n_simulations < 1:
        raise AnalysisError(f"n_simulations must be at least 1, got {n_simulations}")
