"""Simulatability statistics: Mann-Whitney by hand and against scipy, tables on tiny frames worked
by hand, and a simulated study with the PV paper's arm sizes and accuracies."""
import io
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import stats

from analysis import simulatability as sim
from analysis.errors import AnalysisError, MissingColumnsError

# ---------------------------------------------------------------- Mann-Whitney


def test_mann_whitney_with_ties_by_hand():
    # a = 1 2 2 3, b = 2 3 4. Pooled ranks: 1 -> 1, the three 2s -> 3, the two 3s -> 5.5, 4 -> 7.
    # R_a = 1 + 3 + 3 + 5.5 = 12.5, U_a = 12.5 - 4 * 5 / 2 = 2.5, mean n_a n_b / 2 = 6.
    # Ties (t = 3, t = 2): sum(t^3 - t) = 30; variance = 12 / 12 * (8 - 30 / 42) = 7.2857143.
    result = sim.mann_whitney([1, 2, 2, 3], [2, 3, 4], alternative="less", method="asymptotic")
    sd = np.sqrt(8 - 30 / 42)
    assert result.u == 2.5
    assert result.z == pytest.approx((2.5 - 6) / sd, rel=1e-12)
    assert result.z == pytest.approx(-1.296677, abs=1e-6)
    assert result.pvalue == pytest.approx(stats.norm.cdf(-3.5 / sd), rel=1e-12)
    assert result.effect == pytest.approx(2 * 2.5 / 12 - 1)  # -0.5833
    corrected = sim.mann_whitney([1, 2, 2, 3], [2, 3, 4], "less", method="asymptotic", continuity=True)
    assert corrected.z == pytest.approx(-3.0 / sd, rel=1e-12)


samples = st.lists(st.integers(0, 6), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(a=samples, b=samples, alternative=st.sampled_from(sim.ALTERNATIVES), continuity=st.booleans())
def test_mann_whitney_matches_scipy_asymptotic(a, b, alternative, continuity):
    if len(set(a) | set(b)) < 2:
        return  # every value tied: no variance, no test
    result = sim.mann_whitney(a, b, alternative, method="asymptotic", continuity=continuity, n_boot=10)
    expected = stats.mannwhitneyu(a, b, alternative=alternative, use_continuity=continuity, method="asymptotic")
    assert result.u == expected.statistic
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)
    assert result.method == "normal approximation" + (", continuity-corrected" if continuity else "")


@pytest.mark.parametrize("method", ["asymptotic", "exact"])
@pytest.mark.parametrize("continuity", [False, True])
@pytest.mark.parametrize("alternative", sim.ALTERNATIVES)
def test_mann_whitney_on_all_tied_values_gives_p_one(alternative, continuity, method):
    """Every participant at the same accuracy: U at its null mean; scipy (continuity-corrected, its
    default) and the exact permutation give p = 1, not NaN."""
    a, b = [0.5] * 4, [0.5] * 6
    result = sim.mann_whitney(a, b, alternative, method=method, continuity=continuity, n_boot=10)
    expected = stats.mannwhitneyu(a, b, alternative=alternative, method="asymptotic").pvalue
    assert result.u == 12.0 and result.z == 0.0
    assert result.pvalue == expected == 1.0


def scipy_exact_pvalue(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    """scipy's p and the tolerance to compare with: its exact distribution without ties; with ties its
    permutation test, exhaustive when there are at most 20,000 splits, else 20,000 random ones.
    scipy's permutation test needs two values per sample: with one, every split is enumerated here."""
    if np.unique(np.r_[a, b]).size == a.size + b.size:
        return stats.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue, 1e-12
    if min(a.size, b.size) == 1:
        pooled = np.r_[a, b]
        u = [stats.mannwhitneyu(pooled[list(chosen)], np.delete(pooled, list(chosen))).statistic
             for chosen in itertools.combinations(range(pooled.size), a.size)]
        observed = stats.mannwhitneyu(a, b).statistic
        less, greater = np.mean(np.array(u) <= observed), np.mean(np.array(u) >= observed)
        return {"less": less, "greater": greater, "two-sided": min(1.0, 2 * min(less, greater))}[alternative], 1e-12
    if math.comb(a.size + b.size, a.size) <= 20_000:
        method = stats.PermutationMethod(n_resamples=np.inf)
        return stats.mannwhitneyu(a, b, alternative=alternative, method=method).pvalue, 1e-12
    method = stats.PermutationMethod(n_resamples=20_000, rng=np.random.default_rng(0))
    p = stats.mannwhitneyu(a, b, alternative=alternative, method=method).pvalue
    if alternative == "two-sided":  # twice the smaller one-sided p
        return p, 5 * 2 * np.sqrt(max(p / 2 * (1 - p / 2), 1e-4) / 20_000)  # 5 Monte Carlo standard errors
    return p, 5 * np.sqrt(max(p * (1 - p), 1e-4) / 20_000)


@pytest.mark.parametrize("ties", [False, True], ids=["no ties", "ties"])
def test_mann_whitney_matches_scipy_for_every_small_size(ties):
    rng = np.random.default_rng(7)
    for n_a, n_b in itertools.product(range(1, 13), repeat=2):
        a, b = (rng.integers(0, 4, n).astype(float) if ties else rng.normal(size=n) for n in (n_a, n_b))
        if ties and np.unique(np.r_[a, b]).size == 1:
            b[0] = 4.0  # keep some spread
        for alternative in sim.ALTERNATIVES:
            exact = sim.mann_whitney(a, b, alternative, method="exact", n_boot=10)
            has_ties = np.unique(np.r_[a, b]).size < n_a + n_b
            assert exact.method == ("exact permutation (ties)" if has_ties else "exact")
            if has_ties and math.comb(n_a + n_b, n_a) > 20_000 and alternative != "two-sided":
                continue  # the Monte Carlo comparison is slow: one alternative per size is enough
            expected, tolerance = scipy_exact_pvalue(a, b, alternative)
            assert exact.pvalue == pytest.approx(expected, rel=1e-9, abs=tolerance), (n_a, n_b, alternative)
            for continuity in (False, True):
                asymptotic = sim.mann_whitney(a, b, alternative, method="asymptotic", continuity=continuity,
                                              n_boot=10)
                reference = stats.mannwhitneyu(a, b, alternative=alternative, use_continuity=continuity,
                                               method="asymptotic")
                assert asymptotic.u == exact.u == reference.statistic
                assert asymptotic.pvalue == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("n_a, n_b", [(25, 30), (40, 20), (60, 45)])
def test_mann_whitney_matches_scipy_on_larger_samples(n_a, n_b):
    rng = np.random.default_rng(n_a)
    a, b = rng.normal(0.3, 1, n_a), rng.normal(0, 1, n_b)
    tied_a, tied_b = np.round(a), np.round(b)
    for alternative in sim.ALTERNATIVES:
        exact = sim.mann_whitney(a, b, alternative, method="exact", n_boot=10)
        assert exact.pvalue == pytest.approx(
            stats.mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue, rel=1e-9)
        for continuity in (False, True):
            for x, y in ((a, b), (tied_a, tied_b)):
                result = sim.mann_whitney(x, y, alternative, method="asymptotic", continuity=continuity, n_boot=10)
                expected = stats.mannwhitneyu(x, y, alternative=alternative, use_continuity=continuity,
                                              method="asymptotic")
                assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
        # with ties the exact permutation p sits near scipy's Monte Carlo permutation p
        tied = sim.mann_whitney(tied_a, tied_b, alternative, method="exact", n_boot=10)
        monte_carlo = stats.mannwhitneyu(tied_a, tied_b, alternative=alternative,
                                         method=stats.PermutationMethod(n_resamples=20_000, rng=1)).pvalue
        assert tied.pvalue == pytest.approx(monte_carlo, abs=10 * np.sqrt(max(monte_carlo, 1e-4) / 20_000))


def test_auto_method_and_the_issue_examples():
    # 1 vs 2: U = 2 of 2; exact two-sided p = 2 P(U >= 2) = 2 / 3, the normal approximation says 0.22
    one_two = sim.mann_whitney([0.9], [0.1, 0.2], n_boot=100)
    assert one_two.method == "exact" and one_two.pvalue == pytest.approx(2 / 3)
    assert sim.mann_whitney([0.9], [0.1, 0.2], method="asymptotic").pvalue == pytest.approx(0.2207, abs=1e-4)
    assert sim.mann_whitney([0.9], [0.1, 0.2], "greater").pvalue == pytest.approx(1 / 3)
    # 5 vs 6 with one inverted pair: U = 29 of 30, P(U >= 29) = 2 / C(11, 5) = 2 / 462
    a, b = [5, 7, 8, 9, 10], [0, 1, 2, 3, 4, 6]
    assert sim.mann_whitney(a, b).pvalue == pytest.approx(4 / 462)  # 0.0087
    assert sim.mann_whitney(a, b, method="asymptotic").pvalue == pytest.approx(0.0106, abs=1e-4)
    assert "fewer than 10 participants" in sim.mann_whitney(a, b).warning
    big = np.arange(31.0)
    assert sim.mann_whitney(big, big + 0.5, n_boot=10).method == "normal approximation"  # 62 > 60
    assert sim.mann_whitney(big[:30], big[:30] + 0.5, n_boot=10).method == "exact"
    assert sim.mann_whitney(big[:30], big[:30] + 0.5, n_boot=10).warning == ""


def test_exact_permutation_with_ties_by_hand():
    # a = 0 1, b = 1 1: mid-ranks 1, 3, 3, 3. The 6 splits give a rank sums 4 (x3: {1, 3}) and 6 (x3: {3, 3}).
    # a's sum is 4, the smallest: P(less) = 3 / 6, P(greater) = 1, two-sided min(1, 2 * 0.5) = 1.
    assert sim.mann_whitney([0, 1], [1, 1], "less").pvalue == pytest.approx(0.5)
    assert sim.mann_whitney([0, 1], [1, 1], "greater").pvalue == pytest.approx(1.0)
    assert sim.mann_whitney([0, 1], [1, 1]).pvalue == pytest.approx(1.0)


def test_exact_p_with_ties_for_unequal_arms_and_its_limit():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 5, 40).astype(float), rng.integers(1, 6, 7).astype(float)
    for alternative in sim.ALTERNATIVES:  # the smaller arm's sum is counted: same p either way round
        forward = sim.mann_whitney(a, b, alternative, method="exact", n_boot=10).pvalue
        mirrored = {"less": "greater", "greater": "less"}.get(alternative, alternative)
        assert forward == pytest.approx(sim.mann_whitney(b, a, mirrored, method="exact", n_boot=10).pvalue)
    big = np.repeat([0.0, 1.0], 300)
    with pytest.raises(AnalysisError, match="use method='asymptotic'"):
        sim.mann_whitney(big, big, method="exact", n_boot=10)


def test_effect_sizes_and_their_intervals():
    # a = 1 2 2 3, b = 2 3 4: U = 2.5 of 12 pairs, CL = 2.5 / 12, r = 2 CL - 1
    result = sim.mann_whitney([1, 2, 2, 3], [2, 3, 4], n_boot=500)
    assert result.common_language == pytest.approx(2.5 / 12) and result.effect == pytest.approx(2 * 2.5 / 12 - 1)
    assert result.ci_low == pytest.approx(2 * result.cl_low - 1) and result.ci_high == pytest.approx(2 * result.cl_high - 1)
    assert result.cl_low < result.common_language < result.cl_high and not result.ci_degenerate
    separated = sim.mann_whitney([0.0, 0.1, 0.2], [0.5, 0.6], n_boot=200)
    assert (separated.effect, separated.ci_low, separated.ci_high, separated.ci_degenerate) == (-1, -1, -1, True)
    assert separated.common_language == 0.0


@pytest.mark.parametrize("a, b, alternative", [([], [1.0], "less"), ([1.0, np.nan], [2.0], "less"),
                                               ([[1.0]], [2.0], "less"), ([1.0], [2.0], "lower")])
def test_mann_whitney_refuses_bad_samples(a, b, alternative):
    with pytest.raises(AnalysisError):
        sim.mann_whitney(a, b, alternative)


# ---------------------------------------------------------------- tables on tiny frames


def tiny_trials():
    rows = [
        # participant, arm, item, model_correct, attention, correct_guess, cant_tell
        (1, "Grad-CAM", "a", True, False, True, False),
        (1, "Grad-CAM", "b", True, False, False, True),
        (1, "Grad-CAM", "c", False, False, False, False),
        (1, "Grad-CAM", "check", True, True, True, False),
        (2, "Grad-CAM", "a", True, False, True, False),
        (2, "Grad-CAM", "b", True, False, True, False),
        (2, "Grad-CAM", "c", False, False, True, False),
        (3, "PV", "a", True, False, False, True),
        (3, "PV", "b", True, False, True, False),
        (3, "PV", "c", False, False, True, False),
        (3, "PV", "check", True, True, False, False),
    ]
    frame = pd.DataFrame(rows, columns=["participant", "arm", "item", "model_correct", "is_attention_check",
                                        "correct_guess", "cant_tell"])
    frame["technique"] = frame["arm"].map({"Grad-CAM": "gradcam", "PV": "pv"})
    return frame


def tiny_participants():
    return pd.DataFrame({
        "participant": [1, 2, 3, 4], "arm": ["Grad-CAM", "Grad-CAM", "PV", "PV"],
        "technique": ["gradcam", "gradcam", "pv", "pv"], "status": ["completed", "completed", "completed", "dropped"],
        "attention_failures": [0, 0, 1, 0],
    })


def test_participant_accuracies_by_hand():
    acc = sim.participant_accuracies(tiny_trials()).set_index(["participant", "subset"])
    # attention checks left out; "can't tell" counts as wrong
    assert acc.loc[(1, "model correct"), ["n_questions", "n_right", "accuracy"]].tolist() == [2, 1, 0.5]
    assert acc.loc[(1, "model incorrect"), "accuracy"] == 0.0
    assert acc.loc[(2, "model correct"), "accuracy"] == 1.0
    assert acc.loc[(3, "model correct"), "accuracy"] == 0.5
    assert len(acc) == 6


def test_accuracy_table_by_hand():
    table = sim.accuracy_table(sim.participant_accuracies(tiny_trials())).set_index(["arm", "subset"])
    row = table.loc[("Grad-CAM", "model correct")]
    # accuracies 0.5 and 1.0: mean 0.75, sample SD 0.35355, SE 0.25
    assert (row["n"], row["mean"], row["chance"]) == (2, 0.75, 0.25)
    assert row["se"] == pytest.approx(0.25)
    assert table.loc[("PV", "model incorrect"), "mean"] == 1.0


def test_only_completed_participants_count_when_given():
    trials = pd.concat([tiny_trials(), tiny_trials().query("participant == 3").assign(participant=4)])
    with_all = sim.participant_accuracies(trials)
    completed = sim.participant_accuracies(trials, tiny_participants())
    assert set(with_all["participant"]) == {1, 2, 3, 4}
    assert set(completed["participant"]) == {1, 2, 3}


def test_booleans_read_back_from_csv():
    text = tiny_trials().to_csv(index=False)
    acc = sim.participant_accuracies(pd.read_csv(io.StringIO(text)))
    pd.testing.assert_frame_equal(acc, sim.participant_accuracies(tiny_trials()), check_dtype=False)
    broken = tiny_trials().astype({"cant_tell": object})
    broken.loc[0, "cant_tell"] = "maybe"
    with pytest.raises(AnalysisError):
        sim.participant_accuracies(broken)


def test_missing_columns_are_named():
    with pytest.raises(MissingColumnsError, match="correct_guess"):
        sim.participant_accuracies(tiny_trials().drop(columns="correct_guess"))


def test_cant_tell_and_question_accuracies_by_hand():
    rates = sim.cant_tell_rates(tiny_trials()).set_index(["arm", "subset"])
    # Grad-CAM, model correct: participant 1 said "can't tell" on 1 of 2, participant 2 on 0 of 2
    assert rates.loc[("Grad-CAM", "model correct"), "mean"] == 0.25
    assert rates.loc[("PV", "model correct"), "mean"] == 0.5
    questions = sim.question_accuracies(tiny_trials()).set_index(["item", "arm"])
    assert questions.loc[("b", "Grad-CAM"), ["n", "accuracy", "cant_tell"]].tolist() == [2, 0.5, 0.5]
    assert "check" not in questions.index.get_level_values("item")


def test_participation_summary_by_hand():
    summary = sim.participation_summary(tiny_participants()).set_index("arm")
    assert summary.loc["PV", ["consented", "completed", "dropped", "withdrawn", "active"]].tolist() == [2, 1, 1, 0, 0]
    assert summary.loc["PV", "dropout_rate"] == 0.5
    assert summary.loc["PV", "failed_attention"] == 1 and summary.loc["PV", "failed_attention_rate"] == 0.5
    assert summary.loc["Grad-CAM", "dropout_rate"] == 0.0
    with pytest.raises(AnalysisError):
        sim.participation_summary(tiny_participants().assign(status="gone"))


def test_histograms_are_written_whole(tmp_path):
    paths = sim.plot_histograms(sim.participant_accuracies(tiny_trials()), tmp_path)
    assert [p.name for p in paths] == ["histogram_model_correct.png", "histogram_model_incorrect.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temporary left


def test_histogram_counts_have_integer_ticks(tmp_path, monkeypatch):
    figures = []
    save = sim._save_figure
    monkeypatch.setattr(sim, "_save_figure", lambda figure, path: (figures.append(figure), save(figure, path)))
    sim.plot_histograms(sim.participant_accuracies(tiny_trials()), tmp_path)  # one or two participants per bar
    for figure in figures:
        for axis in figure.axes:
            figure.canvas.draw()
            ticks = [tick for tick in axis.get_yticks() if axis.get_ylim()[0] <= tick <= axis.get_ylim()[1]]
            assert len(ticks) >= 2 and all(float(tick).is_integer() for tick in ticks)


# ---------------------------------------------------------------- a simulated study of the paper's size

# PV paper, Table 1: per-participant accuracy, mean (SE); 58 Grad-CAM and 40 PV participants.
PAPER = {
    ("Grad-CAM", "model incorrect"): (0.083, 0.013),
    ("PV", "model incorrect"): (0.350, 0.030),
    ("Grad-CAM", "model correct"): (0.959, 0.007),
    ("PV", "model correct"): (0.755, 0.025),
}
ARM_SIZES = {"Grad-CAM": 58, "PV": 40}
QUESTIONS = {"model correct": 16, "model incorrect": 14}


def simulate_study(seed: int = 0) -> pd.DataFrame:
    """Trials of a study like the paper's: each participant's skill drawn from a beta around the
    paper's mean, spread so that the SEs come out near the paper's, then 30 answered questions."""
    rng = np.random.default_rng(seed)
    rows, participant = [], 0
    for arm, size in ARM_SIZES.items():
        for _ in range(size):
            participant += 1
            for subset, n_questions in QUESTIONS.items():
                mean, se = PAPER[(arm, subset)]
                observed_var = (se * np.sqrt(size)) ** 2
                skill_var = max(observed_var - mean * (1 - mean) / n_questions, 1e-4)
                k = mean * (1 - mean) / skill_var - 1
                skill = rng.beta(mean * k, (1 - mean) * k)
                for q in range(n_questions):
                    right = rng.random() < skill
                    rows.append((participant, arm, f"{subset[:5]}-{q}", subset == "model correct", False,
                                 right, (not right) and rng.random() < 0.3))
            rows.append((participant, arm, "check", True, True, True, False))
    frame = pd.DataFrame(rows, columns=["participant", "arm", "item", "model_correct", "is_attention_check",
                                        "correct_guess", "cant_tell"])
    frame["technique"] = frame["arm"].map({"Grad-CAM": "gradcam", "PV": "pv"})
    return frame


def test_simulated_paper_study_gives_the_papers_table_and_tests():
    accuracies = sim.participant_accuracies(simulate_study())
    table = sim.accuracy_table(accuracies).set_index(["arm", "subset"])
    for key, (mean, se) in PAPER.items():
        assert table.loc[key, "n"] == ARM_SIZES[key[0]]
        assert table.loc[key, "mean"] == pytest.approx(mean, abs=0.05)
        assert table.loc[key, "se"] == pytest.approx(se, rel=0.5)
    tests = sim.compare_arms(accuracies, "Grad-CAM", "PV", **sim.PAPER_CONVENTION).set_index("subset")
    wrong, right = tests.loc["model incorrect"], tests.loc["model correct"]
    # paper: Z = -6.58, p = 2.3e-11 (left-tailed); Z = 6.57, p = 2.45e-11 (right-tailed)
    assert wrong["alternative"] == "less" and -8 < wrong["z"] < -5 and wrong["pvalue"] < 1e-7
    assert right["alternative"] == "greater" and 5 < right["z"] < 8 and right["pvalue"] < 1e-7
    assert (wrong["n_first"], wrong["n_second"]) == (58, 40)
    assert wrong["effect"] < -0.6 and wrong["ci_high"] < 0
    assert right["effect"] > 0.6 and right["ci_low"] > 0


# The paper publishes arm sizes, mean and SE per arm and subset, Z and p, not its answers. These
# score counts (participants with 0, 1, 2, ... right answers out of 14 and 16 questions) are one
# data set consistent with every published figure (found by a local search starting from
# beta-binomial counts with the paper's means and SEs); the test checks the convention turns it
# into the published Z and p: one-sided, normal approximation with tie correction, no continuity
# correction, Grad-CAM first.
PAPER_COUNTS = {
    ("Grad-CAM", "model incorrect"): [20, 22, 12, 1, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0],
    ("PV", "model incorrect"): [2, 3, 2, 5, 1, 11, 10, 2, 0, 2, 0, 1, 1, 0, 0],
    ("Grad-CAM", "model correct"): [0] * 12 + [1, 0, 10, 14, 33],
    ("PV", "model correct"): [0, 0, 0, 0, 0, 0, 1, 0, 4, 1, 1, 13, 2, 6, 3, 5, 4],
}


def test_paper_convention_reproduces_the_papers_z_and_p():
    rows = []
    for (arm, subset), counts in PAPER_COUNTS.items():
        scores = np.repeat(np.arange(len(counts)), counts)
        assert scores.size == ARM_SIZES[arm]
        for participant, right in enumerate(scores):
            rows.append({"participant": f"{arm}-{participant}", "arm": arm, "technique": arm.lower(), "subset": subset,
                         "n_questions": QUESTIONS[subset], "accuracy": right / QUESTIONS[subset]})
    accuracies = pd.DataFrame(rows)
    table = sim.accuracy_table(accuracies).set_index(["arm", "subset"])
    for key, (mean, se) in PAPER.items():  # the paper's Table 1, to its rounding
        assert (round(table.loc[key, "mean"], 3), round(table.loc[key, "se"], 3)) == (mean, se)
    tests = sim.compare_arms(accuracies, "Grad-CAM", "PV", **sim.PAPER_CONVENTION).set_index("subset")
    wrong, right = tests.loc["model incorrect"], tests.loc["model correct"]
    assert wrong["method"] == right["method"] == "normal approximation"
    assert (wrong["alternative"], round(wrong["z"], 2), float(f"{wrong['pvalue']:.2g}")) == ("less", -6.58, 2.3e-11)
    assert (right["alternative"], round(right["z"], 2), float(f"{right['pvalue']:.3g}")) == ("greater", 6.57, 2.45e-11)
    # the other conventions give other figures: two-sided doubles p, PV first flips Z's sign
    two_sided = sim.compare_arms(accuracies, "Grad-CAM", "PV", method="asymptotic").set_index("subset")
    assert two_sided.loc["model incorrect", "pvalue"] == pytest.approx(2 * wrong["pvalue"])
    flipped = sim.compare_arms(accuracies, "PV", "Grad-CAM", method="asymptotic").set_index("subset")
    assert flipped.loc["model incorrect", "z"] == pytest.approx(-wrong["z"])


@pytest.mark.slow
def test_mixed_model_on_the_simulated_study():
    model = sim.mixed_effects_model(simulate_study(seed=1))
    fixed = model.fixed.set_index("term")
    # Grad-CAM is the reference arm: PV helps when the model is wrong and hurts when it is right
    assert fixed.loc["C(arm)[T.PV]", "estimate"] > 1 and fixed.loc["C(arm)[T.PV]", "z"] > 4
    assert fixed.loc["C(arm)[T.PV]:model_right", "estimate"] < -2
    assert fixed.loc["model_right", "estimate"] > 3
    assert set(model.random_sd) == {"participant", "item"}
    assert model.n_answers == 98 * 30
