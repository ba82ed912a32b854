"""HIVE's agreement and distinction designs on tiny frames worked by hand, checked against sklearn
and scipy, the control arm in the default comparisons, and the two reports written whole."""
import io
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from analysis import hive, hive_report, simulatability
from analysis.errors import AnalysisError, MissingColumnsError


def _trial(participant, arm, model_correct, attention=False, **design):
    item = f"{participant}-{model_correct}"
    return {"participant": participant, "arm": arm, "technique": arm, "item": item, "model_correct": model_correct,
            "is_attention_check": attention, "cant_tell": False, **design}


def agreement_trials():
    """Points on a 4-point scale (judged correct: 3 or 4); p5 withdrew and never counts."""
    rows = []
    for participant, arm, correct, incorrect in [
        ("p1", "gradcam", (4, 3, 2), (3, 1)),
        ("p2", "gradcam", (4, 4), (4, 3, 2)),
        ("p3", "none", (3, 1), (4, 2)),
        ("p4", "none", (2, 3), ()),
        ("p5", "gradcam", (1, 1), (4, 4)),
    ]:
        rows += [_trial(participant, arm, True, agreement=point) for point in correct]
        rows += [_trial(participant, arm, False, agreement=point) for point in incorrect]
    rows.append(_trial("p1", "gradcam", True, attention=True, agreement=1))  # never counts
    return pd.DataFrame(rows).assign(correct_guess=False)


def participants_frame(completed=("p1", "p2", "p3", "p4")):
    names = ["p1", "p2", "p3", "p4", "p5"]
    return pd.DataFrame({"participant": names, "arm": ["gradcam", "gradcam", "none", "none", "gradcam"],
                         "technique": ["gradcam", "gradcam", "none", "none", "gradcam"],
                         "status": ["completed" if name in completed else "withdrawn" for name in names],
                         "attention_failures": 0})


def test_agreement_scores_by_hand():
    scores = hive.agreement_scores(agreement_trials(), participants_frame()).set_index("participant")
    assert list(scores.reset_index().columns) == list(hive.SCORE_COLUMNS)
    assert list(scores.index) == ["p1", "p2", "p3", "p4"]  # p5 withdrew
    # p1: correct 4 3 2 -> mean 3 (the attention check's 1 left out); incorrect 3 1 -> 2;
    # 3 > 2: 1 of 2 convinced
    # AUC over the 3 x 2 pairs: (4,3) (4,1) (3,1) (2,1) above, (3,3) tied, (2,3) below: 4.5 / 6 = 0.75
    # p2: correct 4 4 -> 4; incorrect 4 3 2 -> 3; 4 and 3 judged correct: 2 of 3;
    # AUC (0.5 + 1 + 1) * 2 / 6 = 5/6
    # p3: correct 3 1 -> 2; incorrect 4 2 -> 3; 1 of 2; AUC: only (3, 2) above: 1 / 4
    # p4: no model-incorrect answer: incorrect mean, convinced share and AUC undefined
    expected = {"p1": (3, 2, 3.0, 2.0, 0.5, 0.75), "p2": (2, 3, 4.0, 3.0, 2 / 3, 5 / 6),
                "p3": (2, 2, 2.0, 3.0, 0.5, 0.25), "p4": (2, 0, 2.5, np.nan, np.nan, np.nan)}
    columns = ["n_correct", "n_incorrect", "mean_agreement_correct", "mean_agreement_incorrect",
               "convinced_by_wrong", "auc"]
    for participant, values in expected.items():
        np.testing.assert_allclose(scores.loc[participant, columns].astype(float), values, rtol=1e-12)


def test_auc_matches_sklearn_per_participant():
    frame = hive.agreement_answers(agreement_trials())
    scores = hive.agreement_scores(agreement_trials()).set_index("participant")
    for participant, group in frame.groupby("participant"):
        if group["model_correct"].nunique() == 2:
            expected = roc_auc_score(group["model_correct"], group["agreement"])
            assert scores.loc[participant, "auc"] == pytest.approx(expected, rel=1e-12)
    assert scores.loc["p5", "auc"] == 0.0  # without participants: p5 counts, every incorrect above


def test_agreement_table_by_hand():
    table = hive.agreement_table(hive.agreement_scores(agreement_trials(), participants_frame()))
    assert list(table.columns) == list(hive.AGREEMENT_TABLE_COLUMNS)
    table = table.set_index(["arm", "score"])
    assert list(table.loc["gradcam"].index) == list(hive.SCORES)
    # gradcam AUC 0.75 and 5/6: mean 19/24, SE = |difference| / 2 for two values = 1/24
    assert table.loc[("gradcam", "auc"), ["n", "mean", "se"]].tolist() == pytest.approx([2, 19 / 24, 1 / 24])
    # convinced 1/2 and 2/3: mean 7/12 (HIVE's ~60%), SE 1/12
    convinced = table.loc[("gradcam", "convinced_by_wrong")]
    assert [convinced["mean"], convinced["se"]] == pytest.approx([7 / 12, 1 / 12])
    # control: correct means 2 and 2.5 -> 2.25, SE 0.25; AUC of p3 alone (p4 has none): n 1, SE undefined
    correct = table.loc[("none", "mean_agreement_correct")]
    assert [correct["n"], correct["mean"], correct["se"]] == pytest.approx([2, 2.25, 0.25])
    assert table.loc[("none", "auc"), "n"] == 1 and np.isnan(table.loc[("none", "auc"), "se"])


def test_compare_scores_against_scipy():
    scores = hive.agreement_scores(agreement_trials(), participants_frame())
    tests = hive.compare_scores(scores, "none", "gradcam").set_index("score")
    assert list(tests.reset_index().columns) == list(hive.SCORE_TEST_COLUMNS)
    # AUC: control 0.25 vs 0.75, 5/6: U = 0; three equally likely splits, two-sided p = 2 * 1/3
    auc = tests.loc["auc"]
    assert [auc["u"], auc["pvalue"], auc["n_first"], auc["n_second"]] == pytest.approx([0, 2 / 3, 1, 2])
    assert tests.loc["auc", "pvalue"] == pytest.approx(
        stats.mannwhitneyu([0.25], [0.75, 5 / 6], method="exact").pvalue)
    # convinced: 0.5 vs 0.5, 2/3: U = 0.5 (p4's NaN left out)
    assert tests.loc["convinced_by_wrong", "u"] == 0.5
    one_sided = hive.compare_scores(scores, "none", "gradcam", {"auc": "less"}).set_index("score")
    assert one_sided.loc["auc", "pvalue"] == pytest.approx(1 / 3)
    assert one_sided.loc["convinced_by_wrong", "alternative"] == "two-sided"
    with pytest.raises(AnalysisError, match="no scores for arm 'pv'"):
        hive.compare_scores(scores, "none", "pv")


def test_agreement_from_csv_strings_and_its_errors():
    buffer = io.StringIO()
    trials = agreement_trials().assign(judged_correct=lambda t: t["agreement"] > 2)
    trials.to_csv(buffer, index=False)
    read_back = pd.read_csv(io.StringIO(buffer.getvalue()), dtype=str)  # "True", "4", ...
    pd.testing.assert_frame_equal(hive.agreement_scores(read_back), hive.agreement_scores(agreement_trials()))
    with pytest.raises(AnalysisError, match="judged_correct disagrees with agreement > 2"):
        hive.agreement_scores(trials.assign(judged_correct=True))
    with pytest.raises(AnalysisError, match=r"'agreement' must hold integers 1..4"):
        hive.agreement_scores(agreement_trials().assign(agreement=5))
    with pytest.raises(AnalysisError, match=r"integers 1..4"):
        hive.agreement_scores(agreement_trials().assign(agreement=2.5))
    five = hive.agreement_scores(agreement_trials().assign(agreement=5), points=5)
    assert five["convinced_by_wrong"].dropna().eq(1).all()  # 5 > 5 / 2: judged correct
    with pytest.raises(MissingColumnsError, match="agreement"):
        hive.agreement_scores(agreement_trials().drop(columns="agreement"))


def distinction_trials():
    """gradcam and the control with k = 4 panels, pv with k = 2; right: the top-1 panel was picked."""
    rows = []
    for participant, arm, k, correct, incorrect in [
        ("p1", "gradcam", 4, (True, True, False), (True, False)),
        ("p2", "gradcam", 4, (True, True), (False, False)),
        ("p3", "pv", 2, (True, False), (True, True)),
        ("p4", "none", 4, (False, True), (False, False)),
        ("p5", "gradcam", 4, (False, False), (False, False)),
    ]:
        rows += [_trial(participant, arm, True, k=k, correct_guess=right) for right in correct]
        rows += [_trial(participant, arm, False, k=k, correct_guess=right) for right in incorrect]
    rows.append(_trial("p1", "gradcam", True, attention=True, k=4, correct_guess=False))  # never counts
    trials = pd.DataFrame(rows)
    # the second question, asked on some trials only (p1: right, not asked, wrong; p3: right twice)
    trials["correct_class_right"] = pd.Series(dtype=object)
    trials.loc[[0, 1, 2], "correct_class_right"] = [True, "", False]
    trials.loc[[9, 10], "correct_class_right"] = [True, True]
    return trials


def distinction_participants():
    return participants_frame().assign(arm=["gradcam", "gradcam", "pv", "none", "gradcam"],
                                       technique=["gradcam", "gradcam", "pv", "none", "gradcam"])


def upper_tail(right, n, chance):
    """P(X >= right) for X ~ Binomial(n, chance), term by term."""
    return sum(math.comb(n, j) * chance**j * (1 - chance) ** (n - j) for j in range(right, n + 1))


def test_binomial_tests_by_hand():
    binomial = hive.binomial_tests(distinction_trials(), distinction_participants())
    assert list(binomial.columns) == list(hive.BINOMIAL_COLUMNS)
    rows = binomial.set_index(["arm", "subset"])
    # gradcam, k = 4: model correct 4 of 5 right, p = 5 (1/4)^4 (3/4) + (1/4)^5 = 16 / 1024
    # model incorrect 1 of 4: p = 1 - (3/4)^4 = 175 / 256; all 5 of 9: (126*81 + 84*27 + 36*9 + 9*3 + 1) / 4^9
    # pv, k = 2: 1 of 2 -> 3/4, 2 of 2 -> 1/4, all 3 of 4 -> 5/16; control, k = 4: 1 of 2 -> 7/16, 0 of 2 -> 1
    expected = {("gradcam", "model correct"): (5, 4, 16 / 1024),
                ("gradcam", "model incorrect"): (4, 1, 175 / 256),
                ("gradcam", "all"): (9, 5, 12826 / 4**9), ("pv", "model correct"): (2, 1, 3 / 4),
                ("pv", "model incorrect"): (2, 2, 1 / 4), ("pv", "all"): (4, 3, 5 / 16),
                ("none", "model correct"): (2, 1, 7 / 16), ("none", "model incorrect"): (2, 0, 1.0),
                ("none", "all"): (4, 1, 175 / 256)}
    assert len(rows) == len(expected)
    for (arm, subset), (n, right, pvalue) in expected.items():
        row = rows.loc[(arm, subset)]
        chance = 0.5 if arm == "pv" else 0.25
        k = 2 if arm == "pv" else 4
        assert (row["n"], row["n_right"], row["chance"], row["k"]) == (n, right, chance, k)
        assert row["accuracy"] == right / n
        assert row["pvalue"] == pytest.approx(pvalue, rel=1e-12)
        assert row["pvalue"] == pytest.approx(upper_tail(right, n, chance), rel=1e-12)
        assert row["pvalue"] == pytest.approx(stats.binomtest(right, n, chance, alternative="greater").pvalue)
        # Clopper-Pearson: beta quantiles at 2.5% and 97.5%, 0 and 1 at the ends
        low = stats.beta.ppf(0.025, right, n - right + 1) if right else 0.0
        high = stats.beta.ppf(0.975, right + 1, n - right) if right < n else 1.0
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9)
    # closed forms: 4 of 5 -> upper 0.975^(1/5); 1 of 4 -> lower 1 - 0.975^(1/4); 2 of 2 -> lower 0.025^(1/2)
    assert rows.loc[("gradcam", "model correct"), "ci_high"] == pytest.approx(0.975 ** 0.2)
    assert rows.loc[("gradcam", "model incorrect"), "ci_low"] == pytest.approx(1 - 0.975 ** 0.25)
    pv = rows.loc[("pv", "model incorrect")]
    assert [pv["ci_low"], pv["ci_high"]] == pytest.approx([0.025 ** 0.5, 1])


def test_distinction_table_and_its_errors():
    table = hive.distinction_table(distinction_trials(), distinction_participants())
    table = table.set_index(["arm", "subset"])
    # gradcam model correct: p1 2/3, p2 1 -> mean 5/6, SE 1/6; chance per arm 1/k
    gradcam = table.loc[("gradcam", "model correct")]
    assert [gradcam["n"], gradcam["mean"], gradcam["se"]] == pytest.approx([2, 5 / 6, 1 / 6])
    assert table["chance"].to_dict() == {**{("gradcam", s): 0.25 for s in simulatability.SUBSETS.values()},
                                         **{("none", s): 0.25 for s in simulatability.SUBSETS.values()},
                                         **{("pv", s): 0.5 for s in simulatability.SUBSETS.values()}}
    varying = distinction_trials()
    varying.loc[0, "k"] = 3
    with pytest.raises(AnalysisError, match=r"k varies within arm\(s\) \['gradcam'\]"):
        hive.binomial_tests(varying)
    with pytest.raises(AnalysisError, match="integers >= 2"):
        hive.binomial_tests(distinction_trials().assign(k=1))
    with pytest.raises(MissingColumnsError, match="'k'"):
        hive.distinction_table(distinction_trials().drop(columns="k"))


def test_correct_class_accuracy_by_hand():
    expected = pd.DataFrame({"arm": ["gradcam", "pv"], "technique": ["gradcam", "pv"], "n": [2, 2],
                             "accuracy": [0.5, 1.0]})  # p1: right, wrong; p3: right, right
    result = hive.correct_class_accuracy(distinction_trials(), distinction_participants())
    pd.testing.assert_frame_equal(result, expected)
    buffer = io.StringIO()
    distinction_trials().to_csv(buffer, index=False)
    read_back = pd.read_csv(io.StringIO(buffer.getvalue()))  # "" read back as NaN, booleans as objects
    result = hive.correct_class_accuracy(read_back, distinction_participants())
    pd.testing.assert_frame_equal(result, expected)
    for trials in (distinction_trials().drop(columns="correct_class_right"),
                   distinction_trials().assign(correct_class_right=np.nan)):
        result = hive.correct_class_accuracy(trials)
        assert result.empty and list(result.columns) == list(hive.CORRECT_CLASS_COLUMNS)


def test_write_agreement_report(tmp_path):
    paths = hive_report.write_agreement_report(agreement_trials(), participants_frame(), tmp_path,
                                               notes=["Agreement design, 4-point scale."])
    names = ["agreement_scores.csv", "agreement_table.csv", "agreement_tests.csv", "table1.md"]
    assert [p.name for p in paths] == names and sorted(p.name for p in tmp_path.iterdir()) == names
    scores = pd.read_csv(tmp_path / "agreement_scores.csv")
    assert scores["participant"].tolist() == ["p1", "p2", "p3", "p4"]
    tests = pd.read_csv(tmp_path / "agreement_tests.csv")
    # the control first, two-sided, both scores
    assert list(zip(tests["score"], tests["first"], tests["second"], tests["alternative"])) == [
        ("auc", "none", "gradcam", "two-sided"), ("convinced_by_wrong", "none", "gradcam", "two-sided")]
    assert tests.loc[0, "pvalue"] == pytest.approx(2 / 3)
    markdown = (tmp_path / "table1.md").read_text()
    assert markdown.startswith("## Study\n\nAgreement design, 4-point scale.\n")
    assert "## Agreement with the model's prediction (scale 1..4" in markdown
    assert "## Mann-Whitney U on per-participant scores (two-sided)" in markdown
    # gradcam: n 2, convinced 58.3% (±8.3%), AUC 0.79 (±0.04); control AUC of one participant
    assert ("| gradcam | gradcam | 2 | 3.50 (±0.50) | 2.50 (±0.50) | 58.3% (±8.3%) | 0.79 (±0.04) |"
            in markdown)
    assert "| none | none | 2 | 2.25 (±0.25) | 3.00 (n=1) | 50.0% (n=1) | 0.25 (n=1) |" in markdown
    assert "| AUC | none vs gradcam | two-sided |" in markdown
    assert "**Warning:** fewer than 10 participants in an arm (1 vs 2)" in markdown


def test_write_distinction_report(tmp_path):
    paths = hive_report.write_distinction_report(distinction_trials(), distinction_participants(), tmp_path,
                                                 notes=["Distinction design."])
    names = ["table1.csv", "binomial.csv", "mannwhitney.csv", "correct_class.csv", "table1.md"]
    assert [p.name for p in paths] == names and sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    tests = pd.read_csv(tmp_path / "mannwhitney.csv")
    control, paper = simulatability.CONTROL_ALTERNATIVES, simulatability.PAPER_ALTERNATIVES
    expected = [("none", "gradcam", control), ("none", "pv", control), ("gradcam", "pv", paper)]
    assert list(zip(tests["first"], tests["second"], tests["subset"], tests["alternative"])) == [
        (a, b, subset, alternatives[subset]) for a, b, alternatives in expected
        for subset in simulatability.SUBSETS.values()]
    # control vs gradcam, model correct: 0.5 vs 2/3, 1: U = 0, exact one-sided "less" p = 1/3
    row = tests.iloc[0]
    assert (row["subset"], row["u"], row["pvalue"]) == ("model correct", 0.0, pytest.approx(1 / 3))
    assert pd.read_csv(tmp_path / "binomial.csv")["pvalue"].iloc[0] == pytest.approx(16 / 1024)
    assert pd.read_csv(tmp_path / "correct_class.csv")["n"].tolist() == [2, 2]
    markdown = (tmp_path / "table1.md").read_text()
    sections = ["## Study", "## Distinction: per-participant accuracy (Table 1, chance 1/k)",
                "## Exact binomial tests against chance", "## Mann-Whitney U on per-participant accuracies",
                "## Second question: which panel is the true class"]
    assert all(section in markdown for section in sections)
    assert [markdown.index(section) for section in sections] == sorted(markdown.index(s) for s in sections)
    # chance differs by arm (k = 4, 2): a Chance column instead of the closing row
    assert "| Arm | Technique | n | Model correct | Model incorrect | Chance |" in markdown
    assert "| gradcam | gradcam | 2 | 83.3% (±16.7%) | 25.0% (±25.0%) | 25.0% |" in markdown
    assert "| gradcam | Model correct | 4 | 4 / 5 | 80.0% [28.4%, 99.5%] | 25.0% | 0.0156 |" in markdown


def test_distinction_report_without_the_second_question_and_with_one_chance(tmp_path):
    trials = distinction_trials().drop(columns="correct_class_right")
    trials = trials[trials["arm"] != "pv"]
    paths = hive_report.write_distinction_report(trials, None, tmp_path)
    assert [p.name for p in paths] == ["table1.csv", "binomial.csv", "mannwhitney.csv", "table1.md"]
    markdown = (tmp_path / "table1.md").read_text()
    assert not markdown.startswith("## Study") and "Second question" not in markdown
    assert "| Chance |  |  | 25% | 25% |" in markdown


def test_reports_refuse_to_write_without_answers(tmp_path):
    nobody = participants_frame(completed=())
    with pytest.raises(AnalysisError, match="no answered questions"):
        hive_report.write_agreement_report(agreement_trials(), nobody, tmp_path / "a")
    with pytest.raises(AnalysisError, match="no answered questions"):
        hive_report.write_distinction_report(distinction_trials(), nobody, tmp_path / "d")
    varying = distinction_trials()
    varying.loc[0, "k"] = 3
    with pytest.raises(AnalysisError, match="k varies"):
        hive_report.write_distinction_report(varying, None, tmp_path / "d")
    with pytest.raises(MissingColumnsError):
        hive_report.write_agreement_report(agreement_trials().drop(columns="agreement"), None, tmp_path / "a")
    assert list(tmp_path.iterdir()) == []
