"""Learn-then-predict statistics on a tiny study worked by hand, the bootstrap interval against scipy's
percentile bootstrap and its properties, the Mann-Whitney p against scipy, and the report written whole."""
import io

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import learn_predict, learn_predict_report
from analysis.errors import AnalysisError, MissingColumnsError

# Right answers out of 4 test questions per round (2 training images before each test block).
# c1, c2: the control arm "none"; g1, g2: "gradcam"; g3 withdrew and never counts.
SCORES = {"c1": ("none", (1, 2)), "c2": ("none", (2, 3)), "g1": ("gradcam", (3, 4)),
          "g2": ("gradcam", (4, 3)), "g3": ("gradcam", (0, 0))}


def study_trials():
    """The trials as read back from a CSV: training rows have an empty correct_guess, booleans as read."""
    rows = []
    for participant, (arm, rights) in SCORES.items():
        for round_, right in enumerate(rights, start=1):
            base = {"participant": participant, "arm": arm, "technique": arm, "round": round_,
                    "is_attention_check": False, "cant_tell": False, "model_correct": True}
            rows += [{**base, "item": f"train{round_}-{i}", "phase": "train", "correct_guess": ""}
                     for i in range(2)]
            rows += [{**base, "item": f"test{round_}-{i}", "phase": "test", "correct_guess": i < right}
                     for i in range(4)]
    # an attention check in g1's first test block, answered wrong: never counts
    rows.append({**rows[-1], "participant": "g1", "round": 1, "item": "check", "is_attention_check": True,
                 "correct_guess": False})
    return pd.read_csv(io.StringIO(pd.DataFrame(rows).to_csv(index=False)))


def study_participants():
    return pd.DataFrame({"participant": list(SCORES), "arm": [arm for arm, _ in SCORES.values()],
                         "technique": [arm for arm, _ in SCORES.values()],
                         "status": ["completed"] * 4 + ["withdrawn"], "attention_failures": 0})


def accuracies_frame(control, explained, round_=1):
    """Per-participant accuracies of one round, out of 20 questions."""
    rows = [{"participant": f"{arm}{i}", "arm": arm, "technique": arm, "round": round_, "n_questions": 20,
             "n_right": round(20 * value), "accuracy": value}
            for arm, values in (("none", control), ("gradcam", explained)) for i, value in enumerate(values)]
    return pd.DataFrame(rows)


def test_test_accuracies_by_hand():
    accuracies = learn_predict.test_accuracies(study_trials(), study_participants())
    assert list(accuracies.columns) == list(learn_predict.ACCURACY_COLUMNS)
    # training rows, the attention check and withdrawn g3 left out; k of 4 right per round
    expected = [("c1", 1, 4, 1), ("c1", 2, 4, 2), ("c2", 1, 4, 2), ("c2", 2, 4, 3),
                ("g1", 1, 4, 3), ("g1", 2, 4, 4), ("g2", 1, 4, 4), ("g2", 2, 4, 3)]
    got = list(zip(*(accuracies[c] for c in ("participant", "round", "n_questions", "n_right"))))
    assert got == expected
    assert accuracies["accuracy"].tolist() == [right / 4 for *_, right in expected]
    # without participants g3 counts (0 of 4 in both rounds)
    assert learn_predict.test_accuracies(study_trials())["participant"].nunique() == 5


def test_test_accuracies_rejects_bad_input():
    trials = study_trials()
    with pytest.raises(MissingColumnsError):
        learn_predict.test_accuracies(trials.drop(columns="phase"))
    with pytest.raises(AnalysisError, match="phase"):
        learn_predict.test_accuracies(trials.assign(phase="practice"))
    with pytest.raises(AnalysisError, match="round"):
        learn_predict.test_accuracies(trials.assign(round=0))
    unanswered = trials.copy()
    unanswered.loc[unanswered["phase"] == "test", "correct_guess"] = np.nan  # a test row without its answer
    with pytest.raises(AnalysisError, match="correct_guess"):
        learn_predict.test_accuracies(unanswered)


def test_learning_curve_by_hand():
    curve = learn_predict.learning_curve(learn_predict.test_accuracies(study_trials(), study_participants()))
    assert list(curve.columns) == list(learn_predict.CURVE_COLUMNS)
    # two participants each: mean (a + b) / 2, SE = SD / sqrt 2 = |a - b| / sqrt 2 / sqrt 2 = |a - b| / 2
    # gradcam r1: 3/4, 4/4 -> 0.875, 0.125; r2: 4/4, 3/4 -> 0.875, 0.125
    # none r1: 1/4, 2/4 -> 0.375, 0.125; r2: 2/4, 3/4 -> 0.625, 0.125
    expected = [("gradcam", 1, 2, 0.875, 0.125), ("gradcam", 2, 2, 0.875, 0.125),
                ("none", 1, 2, 0.375, 0.125), ("none", 2, 2, 0.625, 0.125)]
    assert list(zip(curve["arm"], curve["round"], curve["n"])) == [row[:3] for row in expected]
    np.testing.assert_allclose(curve["mean"], [row[3] for row in expected])
    np.testing.assert_allclose(curve["se"], [row[4] for row in expected])


def test_utility_by_hand():
    accuracies = learn_predict.test_accuracies(study_trials(), study_participants())
    table = learn_predict.utility(accuracies)
    assert list(table.columns) == list(learn_predict.UTILITY_COLUMNS)
    # r1: 0.875 / 0.375 = 7/3; r2: 0.875 / 0.625 = 1.4
    # all rounds, each participant over 8 answers: gradcam 7/8, 7/8 -> 0.875; none 3/8, 5/8 -> 0.5; 1.75
    assert table["round"].tolist() == [1, 2, "all"]
    assert (table["arm"] == "gradcam").all() and (table["control"] == "none").all()
    np.testing.assert_allclose(table["accuracy"], [0.875, 0.875, 0.875])
    np.testing.assert_allclose(table["control_accuracy"], [0.375, 0.625, 0.5])
    np.testing.assert_allclose(table["utility"], [7 / 3, 1.4, 1.75])
    assert (table["ci_low"] <= table["utility"]).all() and (table["utility"] <= table["ci_high"]).all()
    # the same seed, the same interval
    pd.testing.assert_frame_equal(table, learn_predict.utility(accuracies))


def test_utility_interval_matches_scipy_percentile_bootstrap():
    rng = np.random.default_rng(7)
    control, explained = rng.uniform(0.3, 0.7, 30), rng.uniform(0.5, 0.9, 30)
    row = learn_predict.utility(accuracies_frame(control, explained), n_boot=20000).iloc[0]
    reference = stats.bootstrap((explained, control), lambda a, c, axis: a.mean(axis) / c.mean(axis),
                                paired=False, method="percentile", n_resamples=20000, rng=1)
    assert row["utility"] == pytest.approx(explained.mean() / control.mean())
    assert row["ci_low"] == pytest.approx(reference.confidence_interval.low, abs=0.01)
    assert row["ci_high"] == pytest.approx(reference.confidence_interval.high, abs=0.01)


def test_utility_interval_properties():
    control, explained = np.array([0.4, 0.5, 0.6, 0.3]), np.array([0.7, 0.8, 0.6, 0.9])
    small = learn_predict.utility(accuracies_frame(control, explained)).iloc[0]
    large = learn_predict.utility(accuracies_frame(np.tile(control, 9), np.tile(explained, 9))).iloc[0]
    assert small["ci_low"] < small["utility"] < small["ci_high"] and not small["ci_degenerate"]
    assert large["utility"] == pytest.approx(small["utility"])  # the same means: 0.75 / 0.45
    assert large["ci_high"] - large["ci_low"] < (small["ci_high"] - small["ci_low"]) / 2  # ~ 1 / sqrt 9
    flat = learn_predict.utility(accuracies_frame([0.5] * 3, [0.75] * 4)).iloc[0]
    assert flat["ci_degenerate"] and flat["ci_low"] == flat["ci_high"] == flat["utility"] == 1.5
    # control 0 and 1/2: a quarter of the resamples have control mean 0, an infinite ratio, so the
    # upper 2.5% bound is infinite; the lower one is the smallest ratio, 0.75 / 0.5 = 1.5, which
    # 1/4 * 1/4 = 6.25% > 2.5% of the resamples give (gradcam both 0.75, control both 0.5)
    risky = learn_predict.utility(accuracies_frame([0.0, 0.5], [0.75, 1.0])).iloc[0]
    assert risky["utility"] == 3.5 and risky["ci_low"] == 1.5 and risky["ci_high"] == np.inf


def test_utility_needs_a_control_arm_and_a_control_mean_of_0_gives_an_infinite_ratio():
    accuracies = accuracies_frame([0.5, 0.25], [0.75, 1.0])
    with pytest.raises(AnalysisError, match="control arm"):
        learn_predict.utility(accuracies[accuracies["arm"] == "gradcam"])
    assert learn_predict.utility(accuracies_frame([0.0, 0.0], [0.75, 1.0]))["utility"].iloc[0] == np.inf
    assert np.isnan(learn_predict.utility(accuracies_frame([0.0, 0.0], [0.0, 0.0]))["utility"].iloc[0])
    # a named control arm need not have technique "none"
    table = learn_predict.utility(accuracies, control="gradcam")
    assert table["arm"].tolist() == ["none", "none"]
    assert table["utility"].iloc[0] == pytest.approx(0.375 / 0.875)


def test_compare_rounds_against_scipy():
    tests = learn_predict.compare_rounds(learn_predict.test_accuracies(study_trials(), study_participants()))
    assert list(tests.columns) == list(learn_predict.ROUND_TEST_COLUMNS)
    assert tests["round"].tolist() == [1, 2, "all"]
    assert (tests["first"] == "none").all() and (tests["alternative"] == "less").all()
    # r1: none 1/4, 2/4 vs gradcam 3/4, 4/4: no ties, U = 0, exact p = 1 / C(4, 2) = 1/6
    # r2: none 2/4, 3/4 vs gradcam 4/4, 3/4: ranks 1, 2.5 | 4, 2.5; U = 3.5 - 3 = 0.5; of the 6 splits
    #     {1, 2.5} twice has the smallest rank sum: p = 2/6
    # all: none 3/8, 5/8 vs gradcam 7/8, 7/8: U = 0, only {1, 2} as small: p = 1/6
    np.testing.assert_allclose(tests["u"], [0, 0.5, 0])
    np.testing.assert_allclose(tests["pvalue"], [1 / 6, 1 / 3, 1 / 6])
    exact = stats.mannwhitneyu([0.25, 0.5], [0.75, 1.0], alternative="less", method="exact")
    permutation = stats.mannwhitneyu([0.5, 0.75], [1.0, 0.75], alternative="less",
                                     method=stats.PermutationMethod())
    assert tests["pvalue"].iloc[0] == pytest.approx(exact.pvalue)
    assert tests["pvalue"].iloc[1] == pytest.approx(permutation.pvalue)
    assert tests["method"].tolist() == ["exact", "exact permutation (ties)", "exact permutation (ties)"]


def test_compare_rounds_between_explained_arms_is_two_sided():
    accuracies = pd.concat([accuracies_frame([0.5, 0.25], [0.75, 1.0]),
                            accuracies_frame([], [0.5, 0.6]).assign(arm="pv", technique="pv")])
    tests = learn_predict.compare_rounds(accuracies)
    pairs = list(zip(tests["first"], tests["second"], tests["alternative"]))
    assert pairs == [("none", "gradcam", "less")] * 2 + [("none", "pv", "less")] * 2 + [
        ("gradcam", "pv", "two-sided")] * 2  # the paper's subset-wise hypotheses point both ways


def test_write_learn_predict_report(tmp_path):
    paths = learn_predict_report.write_learn_predict_report(study_trials(), study_participants(), tmp_path,
                                                            notes=["Two rounds of 4 test images."])
    names = ["learning_curve.csv", "utility.csv", "round_tests.csv", "table1.md", "learning_curve.png"]
    assert [p.name for p in paths] == names and sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert (tmp_path / "learning_curve.png").read_bytes().startswith(b"\x89PNG")
    np.testing.assert_allclose(pd.read_csv(tmp_path / "utility.csv")["utility"], [7 / 3, 1.4, 1.75])
    tests = pd.read_csv(tmp_path / "round_tests.csv")
    assert tests["round"].tolist() == ["1", "2", "all"]
    assert tests["pvalue"].tolist() == pytest.approx([1 / 6, 1 / 3, 1 / 6])
    assert pd.read_csv(tmp_path / "learning_curve.csv")["mean"].tolist() == [0.875, 0.875, 0.375, 0.625]
    markdown = (tmp_path / "table1.md").read_text()
    assert markdown.startswith("## Study notes\n\nTwo rounds of 4 test images.\n")
    sections = ["## Learning curve", "## Utility", "## Mann-Whitney U"]
    assert [markdown.index(section) for section in sections] == sorted(markdown.index(s) for s in sections)
    assert "| gradcam | gradcam | 2 | 87.5% (±12.5%) | 87.5% (±12.5%) |" in markdown
    assert "| gradcam | All rounds | 2 vs 2 | 87.5% | 50.0% | 1.75 [" in markdown
    assert "| Round 1 | none vs gradcam | less | exact | 2 vs 2 | 0 |" in markdown
    assert "**Warning:** fewer than 10 participants in an arm (2 vs 2)" in markdown


def test_report_without_control_or_answers(tmp_path):
    trials = study_trials()
    learn_predict_report.write_learn_predict_report(trials[trials["arm"] != "none"], None, tmp_path)
    markdown = (tmp_path / "table1.md").read_text()
    assert not markdown.startswith("## Study notes")
    assert "not computed: utility needs one control arm" in markdown
    assert pd.read_csv(tmp_path / "round_tests.csv").empty
    with pytest.raises(AnalysisError, match="no test answers"):
        learn_predict_report.write_learn_predict_report(trials[trials["phase"] == "train"], None,
                                                        tmp_path / "x")
    assert not (tmp_path / "x").exists()
