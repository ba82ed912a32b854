"""Report tables: gaze mean +- SD and paired tests worked by hand, the survey report written whole."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import reports
from analysis.errors import AnalysisError, MissingColumnsError

from .test_simulatability import simulate_study, tiny_participants, tiny_trials


def gaze_scores():
    # three methods on five images; "fem" lacks image 4
    return pd.DataFrame({
        "method": ["gradcam"] * 5 + ["pv"] * 5 + ["fem"] * 5,
        "image": list(range(5)) * 3,
        "sim": [0.5, 0.6, 0.7, 0.4, 0.8, 0.4, 0.4, 0.5, 0.1, 0.3, 0.5, 0.6, 0.7, 0.4, np.nan],
        "pcc": [0.1, 0.2, 0.3, 0.4, 0.5, 0.2, 0.4, 0.6, 0.8, 1.0, 0.1, 0.2, 0.3, 0.4, 0.5],
    })


def test_gaze_table_by_hand():
    table = reports.gaze_table(gaze_scores()).set_index("method")
    # gradcam sim 0.5 0.6 0.7 0.4 0.8: mean 0.6, squared deviations sum 0.1, SD sqrt(0.1 / 4)
    assert table.loc["gradcam", "sim_mean"] == pytest.approx(0.6)
    assert table.loc["gradcam", "sim_sd"] == pytest.approx(np.sqrt(0.1 / 4))
    assert table.loc["fem", "sim_n"] == 4 and table.loc["fem", "sim_mean"] == pytest.approx(0.55)
    formatted = reports.format_gaze_table(reports.gaze_table(gaze_scores()), ["sim", "pcc"])
    assert formatted.loc[0, "SIM"] == "0.6000 ± 0.158 (n=5)" and formatted.loc[2, "SIM"] == "0.5500 ± 0.129 (n=4)"
    assert list(formatted.columns) == ["Method", "SIM", "PCC", "n"]


def test_paired_tests_by_hand():
    tests = reports.paired_tests(gaze_scores(), ["pcc", "sim"], min_n=1)
    tests = tests.set_index(["metric", "method_a", "method_b"])
    # pcc, gradcam - pv: -0.1 -0.2 -0.3 -0.4 -0.5, all one sign: W = 0, exact two-sided p = 2 / 2^5
    row = tests.loc[("pcc", "gradcam", "pv")]
    assert (row["n"], row["statistic"], row["pvalue"]) == (5, 0.0, pytest.approx(2 / 32))
    assert row["median_diff"] == pytest.approx(-0.3) and row["effect"] == -1.0  # every rank negative
    # sim, gradcam - pv: .1 .2 .2 .3 .5 -> ranks 1, 2.5, 2.5, 4, 5, all positive: +1
    assert tests.loc[("sim", "gradcam", "pv"), "effect"] == 1.0
    # sim, pv - fem on images 0-3: -.1 -.2 -.2 -.3 -> -1; gradcam - fem there: 0 0 0 0 -> no effect, no test
    assert tests.loc[("sim", "pv", "fem"), "effect"] == -1.0
    assert np.isnan(tests.loc[("sim", "gradcam", "fem"), "effect"])
    assert tests.loc[("sim", "gradcam", "fem"), "note"] == "not tested: every difference is 0"
    # pcc, gradcam - fem: all differences 0, no test
    assert np.isnan(tests.loc[("pcc", "gradcam", "fem"), "pvalue"])
    # sim, gradcam vs fem on the four images both have: identical, no test; pv vs fem on four
    assert tests.loc[("sim", "pv", "fem"), "n"] == 4
    # Holm by hand over the tested pairs of each metric: sorted p times (m - rank), running max
    for metric in ("pcc", "sim"):
        family = tests.loc[metric].dropna(subset=["pvalue"]).sort_values("pvalue")
        m = len(family)
        expected = np.minimum(1, np.maximum.accumulate(family["pvalue"].to_numpy() * (m - np.arange(m))))
        np.testing.assert_allclose(family["pvalue_holm"], expected)


def test_paired_tests_need_a_minimum_number_of_images():
    tests = reports.paired_tests(gaze_scores(), ["pcc"])  # 5 or 4 images per pair, fewer than 6
    assert tests["pvalue"].isna().all() and tests["pvalue_holm"].isna().all()
    assert tests["note"].str.startswith("not tested: ").all()
    assert tests.loc[0, "note"] == "not tested: 5 image(s) scored by both, fewer than 6"
    assert tests.loc[0, "effect"] == -1.0  # the effect size is still reported


def test_rank_biserial_with_mixed_signs_by_hand():
    # differences 1, -2, 3, 0: nonzero ranks of |d| 1, 2, 3; T+ = 1 + 3, T- = 2: (4 - 2) / 6
    assert reports._rank_biserial(np.array([1.0, -2.0, 3.0, 0.0])) == pytest.approx(1 / 3)


def test_paired_tests_match_scipy_on_a_larger_sample():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.5, 0.1, 40), rng.normal(0.45, 0.1, 40)
    scores = pd.DataFrame({"method": ["a"] * 40 + ["b"] * 40, "image": list(range(40)) * 2, "sim": np.r_[a, b]})
    row = reports.paired_tests(scores).iloc[0]
    assert row["pvalue"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert row["pvalue_holm"] == row["pvalue"]  # a family of one


def test_gaze_input_is_checked():
    with pytest.raises(MissingColumnsError):
        reports.gaze_table(gaze_scores().drop(columns="method"))
    with pytest.raises(MissingColumnsError):
        reports.gaze_table(gaze_scores(), ["nss"])
    with pytest.raises(AnalysisError):
        reports.paired_tests(pd.concat([gaze_scores(), gaze_scores().iloc[:1]]))


def test_markdown_and_latex_escape_their_specials():
    frame = pd.DataFrame({"a_b": ["x|y", "50%"], "c": ["0.5 ± 0.1", "&$#"]})
    assert reports.to_markdown(frame).splitlines() == [
        "| a_b | c |", "| --- | --- |", r"| x\|y | 0.5 ± 0.1 |", "| 50% | &$# |"]
    latex = reports.to_latex(frame)
    assert r"a\_b & c \\" in latex and r"50\% & \&\$\# \\" in latex and r"0.5 $\pm$ 0.1" in latex
    assert latex.startswith(r"\begin{tabular}{ll}") and latex.rstrip().endswith(r"\end{tabular}")


def test_write_gaze_report(tmp_path):
    scores = pd.concat([gaze_scores(), gaze_scores().query("method == 'pv'").assign(method="centre bias", sim=0.3)])
    paths = reports.write_gaze_report(scores, tmp_path / "out", baselines=["centre bias"], notes=["a note"])
    assert [p.name for p in paths] == ["gaze_table.csv", "gaze_table.md", "gaze_table.tex", "paired_tests.csv",
                                       "mean_ranks.csv", "report.html", "figure_boxes.png", "figure_ranking.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    back = pd.read_csv(paths[0])
    pd.testing.assert_frame_equal(back, reports.gaze_table(scores), check_dtype=False)
    assert back["method"].tolist() == ["gradcam", "pv", "fem", "centre bias"]
    assert "0.6000 ± 0.158 (n=5)" in paths[1].read_text()
    tests = pd.read_csv(paths[3])
    assert "centre bias" not in set(tests["method_a"]) | set(tests["method_b"])  # baselines are not tested
    ranks = pd.read_csv(paths[4]).set_index(["metric", "method"])
    # pcc, images 0-4 (all three scored): pv is above both on every image: rank 1
    assert ranks.loc[("pcc", "pv"), "mean_rank"] == 1.0 and ranks.loc[("pcc", "pv"), "n"] == 5
    # gradcam and fem tie on pcc everywhere: (2 + 3) / 2 each
    assert ranks.loc[("pcc", "gradcam"), "mean_rank"] == ranks.loc[("pcc", "fem"), "mean_rank"] == 2.5
    page = paths[5].read_text()
    assert page.count('<img alt=') == 2 and "a note" in page and "0.6000 ± 0.158 (n=5)" in page


def test_default_comparisons():
    acc = pd.DataFrame({"arm": ["A", "B"], "technique": ["gradcam", "pv"]})
    assert reports.default_comparisons(acc) == [("A", "B", reports.simulatability.PAPER_ALTERNATIVES)]
    three = pd.DataFrame({"arm": ["C", "A", "B"], "technique": ["gradcam", "pv", "lime"]})
    assert reports.default_comparisons(three) == [("A", "B", None), ("A", "C", None), ("B", "C", None)]


def test_default_comparisons_put_the_control_arm_first():
    control, paper = reports.simulatability.CONTROL_ALTERNATIVES, reports.simulatability.PAPER_ALTERNATIVES
    assert reports.CONTROL_TECHNIQUE == "none"
    assert control == {"model correct": "less", "model incorrect": "less"}
    one = pd.DataFrame({"arm": ["G", "C"], "technique": ["gradcam", "none"]})
    assert reports.default_comparisons(one) == [("C", "G", control)]
    # with Grad-CAM and PV: each against the control, then the paper's pair
    paper_arms = pd.DataFrame({"arm": ["P", "G", "C"], "technique": ["pv", "gradcam", "none"]})
    assert reports.default_comparisons(paper_arms) == [("C", "G", control), ("C", "P", control),
                                                       ("G", "P", paper)]
    three = pd.DataFrame({"arm": ["L", "G", "P", "C"], "technique": ["lime", "gradcam", "pv", "none"]})
    assert reports.default_comparisons(three) == [
        ("C", "G", control), ("C", "L", control), ("C", "P", control),
        ("G", "L", None), ("G", "P", None), ("L", "P", None)]
    # two control arms: each against every explained arm, then against each other, two-sided
    controls = pd.DataFrame({"arm": ["C2", "G", "C1"], "technique": ["none", "gradcam", "none"]})
    assert reports.default_comparisons(controls) == [("C1", "G", control), ("C2", "G", control),
                                                     ("C1", "C2", None)]


def test_table1_in_the_papers_form():
    report = reports.simulatability_report(simulate_study())
    table1 = reports.format_table1(report.table)
    assert table1["Arm"].tolist() == ["Grad-CAM", "PV", "Chance"]
    assert table1["n"].tolist() == [58, 40, ""]
    assert table1.loc[2, "Model incorrect"] == "25%"
    gradcam = report.table.set_index(["arm", "subset"]).loc[("Grad-CAM", "model incorrect")]
    assert table1.loc[0, "Model incorrect"] == f"{100 * gradcam['mean']:.1f}% (±{100 * gradcam['se']:.1f}%)"
    tests = reports.format_tests(report.tests)
    assert tests["H1"].tolist() == ["greater", "less"] and tests["Z"].str.match(r"-?\d\.\d\d$").all()
    assert tests["p method"].tolist() == ["normal approximation"] * 2  # 98 participants: auto picks it
    assert tests["n"].tolist() == ["58 vs 40"] * 2 and (tests["Warning"] == "").all()
    assert tests["CL (95% CI)"].str.match(r"0\.\d\d \[0\.\d\d, 0\.\d\d\]$").all()
    # the trial-level mixed model stands beside the tests
    assert report.mixed_note == "" and "C(arm)[T.PV]" in report.mixed["term"].tolist()
    assert report.mixed["term"].tolist()[-2:] == ["sd(participant)", "sd(item)"]


def test_write_simulatability_report(tmp_path):
    paths = reports.write_simulatability_report(tiny_trials(), tiny_participants(), tmp_path)
    names = sorted(p.name for p in paths)
    assert names == sorted(["table1.csv", "table1.md", "table1.tex", "mannwhitney.csv", "mannwhitney.tex",
                            "mixed_model.csv", "cant_tell.csv", "questions.csv", "participation.csv",
                            "histogram_model_correct.png", "histogram_model_incorrect.png"])
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # nothing temporary left behind
    table1 = pd.read_csv(tmp_path / "table1.csv")
    assert set(table1.columns) >= {"arm", "subset", "n", "mean", "se", "chance"}
    tests = pd.read_csv(tmp_path / "mannwhitney.csv")
    assert tests["alternative"].tolist() == ["greater", "less"]  # gradcam vs pv: the paper's tests
    markdown = (tmp_path / "table1.md").read_text()
    assert "| Grad-CAM | gradcam | 2 |" in markdown
    # two and one participants: exact p, a warning in the table, the markdown and the LaTeX
    assert set(tests["method"]) <= {"exact", "exact permutation (ties)"}
    assert tests["warning"].str.startswith("fewer than 10 participants").all()
    assert "**Warning:** fewer than 10 participants in an arm (2 vs 1): a pilot" in markdown
    assert "exact" in (tmp_path / "mannwhitney.tex").read_text()


def test_nothing_is_written_when_the_input_is_bad(tmp_path):
    with pytest.raises(AnalysisError):
        reports.write_simulatability_report(tiny_trials().drop(columns="cant_tell"), None, tmp_path / "out")
    with pytest.raises(AnalysisError):
        reports.write_simulatability_report(tiny_trials(), tiny_participants().assign(status="active"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_text_is_all_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "a.md"
    target.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(reports.os, "replace", broken_replace)
    with pytest.raises(OSError):
        reports.write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.md"]


def test_gaze_table_names_the_count_of_a_metric_scored_on_fewer_images():
    scores = pd.DataFrame({
        "method": ["gradcam"] * 3,
        "image": ["a", "b", "c"],
        "pcc": [0.1, 0.2, 0.3],
        "nss": [1.5, np.nan, np.nan],
    })
    formatted = reports.format_gaze_table(reports.gaze_table(scores), ["pcc", "nss"])
    assert formatted.loc[0, "PCC"] == "0.2000 ± 0.100 (n=3)"
    assert formatted.loc[0, "NSS"] == "1.5000 ± n/a (n=1)"
    none = reports.format_gaze_table(reports.gaze_table(scores.assign(nss=np.nan)), ["pcc", "nss"])
    assert none.loc[0, "NSS"] == "n/a (n=0)"
    assert formatted.loc[0, "n"] == 3


def test_panel_and_figures_render(tmp_path):
    from PIL import Image

    from analysis import gaze_figures

    rng = np.random.default_rng(0)
    panel = [gaze_figures.PanelRow(f"s{i}", rng.integers(0, 255, (30, 40, 3), dtype=np.uint8), rng.random((30, 40)),
                                   {"gradcam": rng.random((7, 7)), "pv": rng.random((7, 7))}) for i in range(2)]
    figure = gaze_figures.stimulus_panel(panel)
    assert len(figure.axes) == 2 * 4 and [a.get_title() for a in figure.axes[:4]] == ["image", "GFDM", "gradcam", "pv"]
    boxes = gaze_figures.metric_boxes(gaze_scores(), ["sim", "pcc"], baselines=["fem"])
    assert [t.get_text() for t in boxes.axes[0].get_xticklabels()] == ["gradcam\n(n=5)", "pv\n(n=5)", "fem\n(n=4)"]
    paths = reports.write_gaze_report(gaze_scores(), tmp_path, panel=panel)
    with Image.open(tmp_path / "figure_panel.png") as image:
        assert image.format == "PNG" and image.size[0] > 500
    assert paths[5].read_text().count("data:image/png;base64,") == 3


def test_gaze_report_has_one_notes_section_and_no_empty_or_mixed_figures(tmp_path, monkeypatch):
    from analysis import gaze_figures

    # sAUC scored nowhere; NSS only on image 0 (fixations on one stimulus); SIM on 4 images (fem lacks
    # image 4); PCC on all 5
    scores = gaze_scores().assign(sauc=np.nan, nss=np.where(gaze_scores()["image"] == 0, 1.0, np.nan))
    boxed, boxes = [], gaze_figures.metric_boxes  # records what the real box plot is asked to draw
    monkeypatch.setattr(gaze_figures, "metric_boxes",
                        lambda s, metrics, b: boxed.append(list(metrics)) or boxes(s, metrics, b))
    paths = reports.write_gaze_report(scores, tmp_path, ["pcc", "sim", "nss", "sauc"],
                                      notes=["first note", "second note"])
    page = (tmp_path / "report.html").read_text()
    assert page.count("<h2>Notes</h2>") == 1 and page.count("<h2>") == 5  # notes, table, 2 figures, tests
    assert "<li>first note</li><li>second note</li>" in page
    assert "<li>No scores for SAUC on any image: left out of the figures.</li>" in page
    assert ("ranked over the same 5 images; SIM (n=4), NSS (n=1) were ranked over fewer and are only in "
            "mean_ranks.csv") in page
    assert boxed == [["pcc", "sim", "nss"]]  # no empty sAUC panel
    ranks = pd.read_csv(tmp_path / "mean_ranks.csv")
    assert ranks.groupby("metric")["n"].first().to_dict() == {"nss": 1, "pcc": 5, "sim": 4}
    assert {p.name for p in paths} >= {"figure_boxes.png", "figure_ranking.png"}
    ranking = gaze_figures.ranking_plot(scores, ["pcc", "sim", "nss", "sauc"])
    assert [t.get_text() for t in ranking.axes[0].get_xticklabels()] == ["PCC"]  # one n: 5
    assert ranking.axes[0].get_title() == "over the same 5 images for every metric"
