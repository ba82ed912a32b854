"""Power by simulation: against statsmodels' closed form for two proportions (one question per
participant) and against a brute-force, one-study-at-a-time simulation."""
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from analysis import power
from analysis.errors import AnalysisError


@pytest.mark.parametrize("p1, p2, n, alternative", [(0.5, 0.3, 60, "two-sided"), (0.35, 0.6, 40, "less"),
                                                     (0.7, 0.5, 80, "greater")])
def test_one_question_per_participant_is_the_two_proportion_test(p1, p2, n, alternative):
    # With one question each, accuracies are 0/1 and the tie-corrected Mann-Whitney z is the pooled
    # two-proportion z (times sqrt((N - 1) / N)); statsmodels' power uses Cohen's arcsine h.
    simulated = power.simulated_power(power.Arm(p1), power.Arm(p2), n, 1, alternative=alternative,
                                      n_simulations=20_000, seed=1)
    closed = NormalIndPower().power(
        proportion_effectsize(p1, p2), nobs1=n, alpha=0.05, ratio=1,
        alternative={"two-sided": "two-sided", "less": "smaller", "greater": "larger"}[alternative],
    )
    assert simulated.power == pytest.approx(closed, abs=0.03)
    assert simulated.se == pytest.approx(np.sqrt(simulated.power * (1 - simulated.power) / 20_000))


def test_sample_size_matches_the_closed_form():
    needed = power.sample_size(power.Arm(0.5), power.Arm(0.3), n_questions=1, power=0.8, n_simulations=10_000)
    closed = NormalIndPower().solve_power(proportion_effectsize(0.5, 0.3), power=0.8, alpha=0.05, ratio=1)
    assert needed.power >= 0.8 and needed.n_per_arm == pytest.approx(closed, rel=0.08)  # closed: 92.3
    smaller = power.simulated_power(power.Arm(0.5), power.Arm(0.3), needed.n_per_arm - 1, 1, n_simulations=10_000)
    assert smaller.power < 0.8  # the fewest that reach it


def brute_force_power(first, second, n, n_questions, alternative, n_simulations, seed):
    """One study at a time: draw each participant's skill, answer each question, run scipy's test."""
    rng = np.random.default_rng(seed)

    def participant(arm):
        if arm.skill_sd == 0:
            skill = arm.accuracy
        else:
            k = arm.accuracy * (1 - arm.accuracy) / arm.skill_sd**2 - 1
            skill = rng.beta(arm.accuracy * k, (1 - arm.accuracy) * k)
        return sum(rng.random() < skill for _ in range(n_questions)) / n_questions

    rejected = 0
    for _ in range(n_simulations):
        a = [participant(first) for _ in range(n)]
        b = [participant(second) for _ in range(n)]
        if len(set(a) | set(b)) > 1:
            p = stats.mannwhitneyu(a, b, alternative=alternative, use_continuity=False, method="asymptotic").pvalue
            rejected += p < 0.05
    return rejected / n_simulations


@pytest.mark.slow
@pytest.mark.parametrize("first, second, n, questions, alternative", [
    (power.Arm(0.083, 0.09), power.Arm(0.35, 0.18), 8, 14, "less"),
    (power.Arm(0.6, 0.1), power.Arm(0.7, 0.1), 20, 10, "two-sided"),
])
def test_vectorised_simulation_matches_a_brute_force_one(first, second, n, questions, alternative):
    fast = power.simulated_power(first, second, n, questions, alternative=alternative, n_simulations=4000)
    slow = brute_force_power(first, second, n, questions, alternative, 1000, seed=5)
    assert fast.power == pytest.approx(slow, abs=4 * np.sqrt(fast.se**2 + slow * (1 - slow) / 1000) + 1e-3)
    assert 0.05 < fast.power < 0.95  # a comparison that tells something


def test_seeded_and_monotone_enough():
    args = (power.Arm(0.4, 0.1), power.Arm(0.55, 0.1), 30, 12)
    assert power.simulated_power(*args, seed=3) == power.simulated_power(*args, seed=3)
    curve = [power.simulated_power(power.Arm(0.4, 0.1), power.Arm(0.55, 0.1), n, 12).power for n in (10, 40, 160)]
    assert curve[0] < curve[1] < curve[2]
    null = power.simulated_power(power.Arm(0.5, 0.1), power.Arm(0.5, 0.1), 30, 12, n_simulations=4000)
    assert null.power == pytest.approx(0.05, abs=0.015)  # no difference: the test's size


def test_pilot_parameters_by_hand():
    pilot = pd.DataFrame({
        "arm": ["a"] * 4 + ["b"] * 3, "subset": "model incorrect", "n_questions": 10,
        "accuracy": [0.1, 0.3, 0.5, 0.1, 0.6, 0.6, 0.6],
    })
    arms = power.arms_from_pilot(pilot, "model incorrect")
    a, questions = arms["a"]
    # mean 0.25, sample variance 0.03667, binomial part 0.25 * 0.75 / 10 = 0.01875
    assert questions == 10 and a.accuracy == pytest.approx(0.25)
    assert a.skill_sd == pytest.approx(np.sqrt(0.11 / 3 - 0.01875))
    assert arms["b"][0] == power.Arm(0.6, 0.0)  # no spread beyond the binomial one


@pytest.mark.parametrize("kwargs", [dict(n_questions=0), dict(alpha=1.0), dict(alternative="lower"),
                                    dict(n_simulations=0)])
def test_bad_input_is_refused(kwargs):
    args = dict(first=power.Arm(0.3), second=power.Arm(0.5), n_per_arm=10, n_questions=5) | kwargs
    with pytest.raises(AnalysisError):
        power.simulated_power(**args)


def test_bad_arms_and_unreachable_power_are_refused():
    with pytest.raises(AnalysisError, match="accuracy must lie"):
        power.Arm(1.2)
    with pytest.raises(AnalysisError, match="skill_sd"):
        power.Arm(0.5, 0.5)
    with pytest.raises(AnalysisError, match="even 16 participants per arm"):
        power.sample_size(power.Arm(0.5), power.Arm(0.52), 5, max_per_arm=16, n_simulations=200)
