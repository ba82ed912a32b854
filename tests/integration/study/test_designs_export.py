"""The trials CSV and the analysis of agreement and distinction studies answered over HTTP: the design's
columns hold what was clicked, row by row, and analyze_study writes the design's report."""
import csv
import io

import pandas as pd
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from scipy import stats
from sklearn.metrics import roc_auc_score

from study.models import Item, Study
from study.models.study import CONTROL
from study.research.analysis import write_study_analysis
from study.research.export import TRIAL_COLUMNS, write_exports
from study.survey.designs.agreement import HIVE_SCALE
from tests.factories import make_study
from tests.integration.study.design_helpers import page_of, post
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db


def trials_csv(django_user_model, slug: str) -> list[dict]:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser(f"res-{slug}", password="pw-Secret-123"))
    response = client.get(reverse("researcher-trials-csv", args=[slug]))
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def click_through(slug: str, n_participants: int, fields_of) -> list[dict]:
    """Participants answer every question with `fields_of(participant number, trial, item)`; returns one
    record per answer (participant, presented_position, item, fields, presented options) in answer order."""
    records = []
    for number in range(n_participants):
        client = Client()
        participant = consent(client, slug)
        assert client.post(f"/p/{participant.token}/intro/").status_code == 302
        for _ in range(participant.trials.count()):
            trial = page_of(client, participant)[0].trial
            item = Item.objects.get(pk=trial.item_id)
            fields = fields_of(number, trial, item)
            assert post(client, participant, trial, **fields).status_code == 302
            records.append({"participant": participant.pk, "position": trial.presented_position, "item": item,
                            "fields": fields, "presented": trial.presented_options})
    return sorted(records, key=lambda r: (r["participant"], r["position"]))


def test_agreement_exports_the_points_clicked_and_its_report(django_user_model, tmp_path):
    make_study("a1", n_correct=3, n_incorrect=3, design="agreement", techniques=("gradcam", CONTROL))
    records = click_through("a1", 4, lambda n, trial, item: {
        "option": HIVE_SCALE[(n + trial.presented_position) % 4]})
    rows = trials_csv(django_user_model, "a1")
    assert list(rows[0]) == [*TRIAL_COLUMNS, "agreement", "judged_correct"]
    assert len(rows) == len(records) == 24
    for row, record in zip(rows, records):
        index = HIVE_SCALE.index(record["fields"]["option"])
        point = 4 - index  # the first label is the top point
        assert (int(row["participant"]), int(row["presented_position"])) == (record["participant"],
                                                                               record["position"])
        assert row["chosen_option"] == record["fields"]["option"]
        assert (row["agreement"], row["judged_correct"]) == (str(point), str(index < 2))
        assert row["correct_guess"] == str((index < 2) == record["item"].model_correct)

    out = tmp_path / "agreement"
    call_command("analyze_study", "a1", "--out", str(out))
    assert {path.name for path in out.iterdir()} == {"agreement_scores.csv", "agreement_table.csv",
                                                     "agreement_tests.csv", "table1.md"}
    scores = pd.read_csv(out / "agreement_scores.csv").set_index("participant")
    frame = pd.DataFrame({"participant": [r["participant"] for r in records],
                          "point": [4 - HIVE_SCALE.index(r["fields"]["option"]) for r in records],
                          "model_correct": [r["item"].model_correct for r in records]})
    for participant, answers in frame.groupby("participant"):
        right = answers[answers["model_correct"]]
        wrong = answers[~answers["model_correct"]]
        assert scores.loc[participant, "mean_agreement_correct"] == pytest.approx(right["point"].mean())
        assert scores.loc[participant, "convinced_by_wrong"] == pytest.approx((wrong["point"] > 2).mean())
        assert scores.loc[participant, "auc"] == pytest.approx(roc_auc_score(answers["model_correct"],
                                                                             answers["point"]))
    assert set(scores["arm"]) == {"gradcam", CONTROL}
    assert "scale 1..4" in (out / "table1.md").read_text()


def test_a_custom_scale_is_analysed_on_its_own_points(tmp_path):
    scale = ["Sure right", "Likely right", "Maybe right", "Maybe wrong", "Likely wrong", "Sure wrong"]
    study = make_study("a6", design="agreement", design_options={"scale": scale}, techniques=("gradcam",))
    click_through("a6", 2, lambda n, trial, item: {"option": scale[(n + trial.presented_position) % 6]})
    paths = write_study_analysis(study, tmp_path)
    assert {path.name for path in paths} == {"agreement_scores.csv", "agreement_table.csv",
                                             "agreement_tests.csv", "table1.md"}
    assert "scale 1..6" in (tmp_path / "table1.md").read_text()


def test_distinction_exports_the_panels_clicked_and_its_report(django_user_model, tmp_path):
    make_study("d1", n_correct=3, n_incorrect=2, design="distinction", techniques=("gradcam", "pv"),
               design_options={"k": 3, "show_labels": True, "ask_correct_class": True})

    def fields_of(number, trial, item):
        return {"option": str((number + trial.presented_position) % 3 + 1), "correct_class": "1"}

    records = click_through("d1", 4, fields_of)
    rows = trials_csv(django_user_model, "d1")
    assert list(rows[0]) == [*TRIAL_COLUMNS, "k", "chosen_panel", "correct_class", "correct_class_right",
                             "correct_class_confidence"]
    assert len(rows) == len(records) == 20
    right = {}  # arm -> [right answers, answers]
    for row, record in zip(rows, records):
        panel = int(record["fields"]["option"])
        chosen, first = record["presented"][panel - 1], record["presented"][0]
        truth = set(record["item"].true_labels) & set(record["presented"])
        assert (int(row["participant"]), int(row["presented_position"])) == (record["participant"],
                                                                               record["position"])
        assert (row["chosen_option"], row["k"], row["chosen_panel"]) == (chosen, "3", str(panel))
        assert row["correct_guess"] == str(chosen == record["item"].model_prediction)
        assert row["correct_class"] == first
        assert row["correct_class_right"] == (str(first in truth) if truth else "")
        assert row["correct_class_confidence"] == ""
        tally = right.setdefault(row["arm"], [0, 0])
        tally[0] += chosen == record["item"].model_prediction
        tally[1] += 1

    write_exports(Study.objects.get(slug="d1"), tmp_path / "exports", ("parquet",))
    parquet = pd.read_parquet(tmp_path / "exports" / "trials.parquet")
    assert parquet["chosen_panel"].tolist() == [int(row["chosen_panel"]) for row in rows]
    assert parquet["correct_class_right"].tolist() == [
        None if row["correct_class_right"] == "" else row["correct_class_right"] == "True" for row in rows]

    out = tmp_path / "distinction"
    call_command("analyze_study", "d1", "--out", str(out))
    assert {path.name for path in out.iterdir()} == {"table1.csv", "binomial.csv", "mannwhitney.csv",
                                                     "correct_class.csv", "table1.md"}
    binomial = pd.read_csv(out / "binomial.csv").set_index(["arm", "subset"])
    for arm, (n_right, n) in right.items():
        row = binomial.loc[(arm, "all")]
        assert (row["n_right"], row["n"], row["k"]) == (n_right, n, 3)
        expected = stats.binomtest(n_right, n, 1 / 3, alternative="greater").pvalue
        assert row["pvalue"] == pytest.approx(expected)


@pytest.mark.parametrize("design, options, shown", [
    (Study.Design.AGREEMENT, {}, "4-point scale: " + " / ".join(HIVE_SCALE)),
    (Study.Design.DISTINCTION, {"k": 3, "show_labels": True, "ask_correct_class": True},
     "3 panels, class names shown; also asks which class is correct"),
    (Study.Design.SIMULATION, {}, "Design: Simulation: guess the model&#x27;s prediction among options"),
])
def test_the_study_page_names_the_design_and_its_options(django_user_model, design, options, shown):
    techniques = ("gradcam",) if design == Study.Design.DISTINCTION else ("gradcam", CONTROL)
    make_study(f"page-{design}", techniques=techniques, design=design, design_options=options)
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("res-page", password="pw-Secret-123"))
    page = client.get(reverse("researcher-dashboard", args=[f"page-{design}"])).content.decode()
    assert shown in page
