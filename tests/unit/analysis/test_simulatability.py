"""Simulatability statistics: Mann-Whitney by hand and against scipy, tables on tiny frames worked
by hand, and a simulated study with the PV paper's arm sizes and accuracies."""
import io

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
    result = sim.mann_whitney([1, 2, 2, 3], [2, 3, 4], alternative="less")
    sd = np.sqrt(8 - 30 / 42)
    assert result.u == 2.5
    assert result.z == pytest.approx((2.5 - 6) / sd, rel=1e-12)
    assert result.z == pytest.approx(-1.296677, abs=1e-6)
    assert result.pvalue == pytest.approx(stats.norm.cdf(-3.5 / sd), rel=1e-12)
    assert result.effect == pytest.approx(2 * 2.5 / 12 - 1)  # -0.5833
    corrected = sim.mann_whitney([1, 2, 2, 3], [2, 3, 4], alternative="less", continuity=True)
    assert corrected.z == pytest.approx(-3.0 / sd, rel=1e-12)


samples = st.lists(st.integers(0, 6), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(a=samples, b=samples, alternative=st.sampled_from(sim.ALTERNATIVES), continuity=st.booleans())
def test_mann_whitney_matches_scipy(a, b, alternative, continuity):
    if len(set(a) | set(b)) < 2:
        return  # every value tied: no variance, no test
    result = sim.mann_whitney(a, b, alternative, continuity=continuity, n_boot=10)
    expected = stats.mannwhitneyu(a, b, alternative=alternative, use_continuity=continuity, method="asymptotic")
    assert result.u == expected.statistic
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-15)


def test_bootstrap_interval_brackets_the_effect():
    rng = np.random.default_rng(0)
    result = sim.mann_whitney(rng.normal(0, 1, 40), rng.normal(0.8, 1, 30), n_boot=1000)
    assert -1 < result.ci_low < result.effect < result.ci_high < 1
    assert result.ci_high < 0  # b clearly higher
    separated = sim.mann_whitney([0.0, 0.1, 0.2], [0.5, 0.6], n_boot=200)
    assert (separated.effect, separated.ci_low, separated.ci_high) == (-1.0, -1.0, -1.0)


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
    tests = sim.compare_arms(accuracies, "Grad-CAM", "PV", sim.PAPER_ALTERNATIVES).set_index("subset")
    wrong, right = tests.loc["model incorrect"], tests.loc["model correct"]
    # paper: Z = -6.58, p = 2.3e-11 (left-tailed); Z = 6.57, p = 2.45e-11 (right-tailed)
    assert wrong["alternative"] == "less" and -8 < wrong["z"] < -5 and wrong["pvalue"] < 1e-7
    assert right["alternative"] == "greater" and 5 < right["z"] < 8 and right["pvalue"] < 1e-7
    assert (wrong["n_first"], wrong["n_second"]) == (58, 40)
    assert wrong["effect"] < -0.6 and wrong["ci_high"] < 0
    assert right["effect"] > 0.6 and right["ci_low"] > 0


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
