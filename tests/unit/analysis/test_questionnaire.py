"""Accuracy by confidence and the questionnaire summaries, each against a hand computation."""
import json

import numpy as np
import pandas as pd
import pytest

from analysis import questionnaire, reports
from analysis import simulatability as sim
from analysis.errors import AnalysisError, MissingColumnsError

from .test_simulatability import tiny_participants, tiny_trials


def rated_trials() -> pd.DataFrame:
    # rows of tiny_trials: participant 1 a b c check, 2 a b c, 3 a b c check
    return tiny_trials().assign(confidence=pd.array([5, 2, 2, 5, 5, 5, 1, 2, 5, None, 3], dtype="Int64"))


def test_accuracy_by_confidence_by_hand():
    table = sim.accuracy_by_confidence(rated_trials()).set_index(["arm", "confidence"])
    # Grad-CAM (attention check left out): level 5: p1 a right, p2 a right, p2 b right -> 3/3 from 2 people;
    # level 2: p1 b wrong (can't tell), p1 c wrong -> 0/2; level 1: p2 c right -> 1/1
    assert table.loc[("Grad-CAM", 5), ["n_participants", "n_answers", "accuracy"]].tolist() == [2, 3, 1.0]
    assert table.loc[("Grad-CAM", 2), ["n_participants", "n_answers", "accuracy"]].tolist() == [1, 2, 0.0]
    assert table.loc[("Grad-CAM", 1), "accuracy"] == 1.0
    # PV: a (2, wrong), b (5, right), c (no rating: left out)
    assert table.loc[("PV", 2), "accuracy"] == 0.0 and table.loc[("PV", 5), "accuracy"] == 1.0
    assert len(table) == 5 and (table["se"] == 0).all()  # p in {0, 1}: SE 0


def test_accuracy_by_confidence_se_and_completed_only():
    trials = rated_trials().assign(confidence=pd.array([3] * 11, dtype="Int64"))
    table = sim.accuracy_by_confidence(trials).set_index("arm")
    # Grad-CAM, non-check rows: right 1,0,0,1,1,1 -> p = 4/6, SE = sqrt(p (1-p) / 6)
    assert table.loc["Grad-CAM", "accuracy"] == pytest.approx(4 / 6)
    assert table.loc["Grad-CAM", "se"] == pytest.approx(np.sqrt(4 / 6 * 2 / 6 / 6))
    participants = tiny_participants().assign(status=["completed", "dropped", "completed", "completed"])
    only = sim.accuracy_by_confidence(trials, participants).set_index("arm")
    assert only.loc["Grad-CAM", "n_answers"] == 3 and only.loc["Grad-CAM", "accuracy"] == pytest.approx(1 / 3)
    with pytest.raises(MissingColumnsError, match="confidence"):
        sim.accuracy_by_confidence(tiny_trials())


def answers() -> pd.DataFrame:
    rows = [  # participant, arm, block, question, kind, value, value_number
        (1, "Grad-CAM", "About you", "age", "number", "30", 30.0),
        (2, "Grad-CAM", "About you", "age", "number", "41", 41.0),
        (3, "Grad-CAM", "About you", "age", "number", "", np.nan),
        (1, "Grad-CAM", "About you", "gender", "single", "Woman", np.nan),
        (2, "Grad-CAM", "About you", "gender", "single", "Prefer not to say", np.nan),
        (3, "Grad-CAM", "About you", "gender", "single", "Woman", np.nan),
        (1, "Grad-CAM", "End", "tools", "multiple", json.dumps(["A", "B"]), np.nan),
        (2, "Grad-CAM", "End", "tools", "multiple", json.dumps(["B"]), np.nan),
        (3, "Grad-CAM", "End", "tools", "multiple", "", np.nan),
        (4, "PV", "End", "trust", "likert", "2", 2.0),
        (5, "PV", "End", "trust", "likert", "4", 4.0),
        (6, "PV", "End", "trust", "likert", "5", 5.0),
        (4, "PV", "End", "comments", "text", "fine", np.nan),
    ]
    columns = ["participant", "arm", "block", "question", "kind", "value", "value_number"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.assign(technique=frame["arm"].map({"Grad-CAM": "gradcam", "PV": "pv"}))


def test_option_counts_by_hand():
    table = questionnaire.option_counts(answers()).set_index(["question", "option"])
    assert table.loc[("gender", "Woman"), ["count", "share"]].tolist() == [2, pytest.approx(2 / 3)]
    assert table.loc[("gender", "Prefer not to say"), "count"] == 1
    # multiple choice: two answered (the third skipped); B chosen by both, A by one
    assert table.loc[("tools", "B"), ["count", "share"]].tolist() == [2, 1.0]
    assert table.loc[("tools", "A"), ["count", "share"]].tolist() == [1, 0.5]
    assert set(table.index.get_level_values("question")) == {"gender", "tools"}


def test_number_summaries_by_hand():
    table = questionnaire.number_summaries(answers()).set_index("question")
    assert table.loc["age", ["n", "mean", "min", "max"]].tolist() == [2, 35.5, 30.0, 41.0]
    assert table.loc["age", "sd"] == pytest.approx(np.sqrt(((30 - 35.5) ** 2 + (41 - 35.5) ** 2) / 1))
    # Likert 2, 4, 5: mean 11/3, sample SD sqrt(((2-m)^2 + (4-m)^2 + (5-m)^2) / 2)
    m = 11 / 3
    assert table.loc["trust", "mean"] == pytest.approx(m)
    sd = np.sqrt(((2 - m) ** 2 + (4 - m) ** 2 + (5 - m) ** 2) / 2)
    assert table.loc["trust", "sd"] == pytest.approx(sd)
    assert table.loc["trust", "median"] == 4.0


def test_summaries_count_completed_participants_only_as_table_1_does():
    # participant 2 withdrew, 5 is still active: their answers stay in the export, not in the summaries
    statuses = {1: "completed", 2: "withdrawn", 3: "completed", 4: "completed", 5: "active", 6: "completed"}
    participants = pd.DataFrame({"participant": list(statuses), "status": list(statuses.values())})
    numbers = questionnaire.number_summaries(answers(), participants).set_index("question")
    assert numbers.loc["age", ["n", "mean", "min", "max"]].tolist() == [1, 30.0, 30.0, 30.0]
    assert numbers.loc["trust", ["n", "mean", "median"]].tolist() == [2, 3.5, 3.5]
    options = questionnaire.option_counts(answers(), participants).set_index(["question", "option"])
    assert options.loc[("gender", "Woman"), ["count", "share"]].tolist() == [2, 1.0]
    assert ("gender", "Prefer not to say") not in options.index
    assert options.loc[("tools", "A"), ["count", "share"]].tolist() == [1, 1.0]
    with pytest.raises(MissingColumnsError, match="status"):
        questionnaire.number_summaries(answers(), participants.drop(columns="status"))


def test_bad_questionnaire_frames_are_refused():
    with pytest.raises(MissingColumnsError, match="value_number"):
        questionnaire.number_summaries(answers().drop(columns="value_number"))
    broken = answers()
    broken.loc[6, "value"] = "A;B"
    with pytest.raises(AnalysisError, match="not a JSON list"):
        questionnaire.option_counts(broken)


def test_report_writes_confidence_and_questionnaire_tables(tmp_path):
    paths = reports.write_simulatability_report(rated_trials(), tiny_participants(), tmp_path,
                                                questionnaire=answers())
    names = {p.name for p in paths}
    assert {"confidence.csv", "questionnaire_options.csv", "questionnaire_numbers.csv"} <= names
    confidence = pd.read_csv(tmp_path / "confidence.csv")
    level5 = (confidence["arm"] == "Grad-CAM") & (confidence["confidence"] == 5)
    assert confidence.loc[level5, "accuracy"].item() == 1
    markdown = (tmp_path / "table1.md").read_text()
    assert "## Accuracy by confidence rating" in markdown and "## Questionnaire: choices" in markdown
    plain = reports.write_simulatability_report(tiny_trials(), tiny_participants(), tmp_path / "plain")
    assert not {"confidence.csv", "questionnaire_options.csv"} & {p.name for p in plain}
