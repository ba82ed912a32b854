"""questionnaire.csv/.parquet rows and trials.csv's confidence, checked by hand; analyze_study's accuracy by
confidence against a count from the database."""
import csv
import io

import pandas as pd
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from study.models import Participant, Trial
from study.research import export
from tests.integration.questionnaire.helpers import make_questionnaire_study
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db


def take_part(study, before: dict, after: dict, right: bool, confidence: int) -> Participant:
    """A participant in a fresh browser who answers the blocks by question key and every question with the
    model's prediction (right) or the first other option, at one confidence level."""
    client = Client()
    participant = consent(client, study.slug)
    url = f"/p/{participant.token}/"
    client.post(url + "intro/")
    blocks = {b.placement: b for b in study.questionnaire_blocks.all()}
    for placement, answers in (("before", before), ("after", after)):
        if placement == "after":
            for trial in participant.trials.select_related("item").order_by("presented_position"):
                client.get(url)
                option = trial.item.answer if right else next(o for o in trial.presented_options
                                                              if o != trial.item.answer)
                response = client.post(url + "answer/", {"trial": trial.pk, "option": option,
                                                         "confidence": confidence})
                assert response.status_code == 302
        block = blocks[placement]
        fields = {f"q{q.pk}": answers[q.key] for q in block.questions.all() if q.key in answers}
        assert client.post(f"{url}block/{block.pk}/", fields).status_code == 302
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    return participant


@pytest.fixture
def answered():
    study = make_questionnaire_study("exp")
    a = take_part(study, {"age": "30", "gender": "Woman"}, {"trust": "4", "tools": ["ChatGPT", "None"],
                                                           "comments": "=cmd|' /C calc'!A0"}, True, 5)
    b = take_part(study, {"age": "41"}, {"trust": "2"}, False, 2)
    return study, a, b


def test_questionnaire_csv_rows_by_hand(admin_client, answered):
    study, a, b = answered
    response = admin_client.get(reverse("researcher-questionnaire-csv", args=[study.slug]))
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(export.QUESTIONNAIRE_COLUMNS)
    ha, hb = (["exp", str(p.pk), p.arm.name, p.arm.technique] for p in (a, b))
    assert [row[:10] + row[10:12] for row in rows[1:]] == [
        [*ha, "before", "0", "About you", "age", "0", "number", "30", "30.0"],
        [*ha, "before", "0", "About you", "gender", "1", "single", "Woman", ""],
        [*ha, "after", "0", "Your view", "trust", "0", "likert", "4", "4.0"],
        [*ha, "after", "0", "Your view", "tools", "1", "multiple",
         '["ChatGPT", "None"]', ""],
        # a formula-like free text is quoted for spreadsheets
        [*ha, "after", "0", "Your view", "comments", "2", "text",
         "'=cmd|' /C calc'!A0", ""],
        [*hb, "before", "0", "About you", "age", "0", "number", "41", "41.0"],
        [*hb, "before", "0", "About you", "gender", "1", "single", "", ""],
        [*hb, "after", "0", "Your view", "trust", "0", "likert", "2", "2.0"],
        [*hb, "after", "0", "Your view", "tools", "1", "multiple", "", ""],
        [*hb, "after", "0", "Your view", "comments", "2", "text", "", ""],
    ]
    frame = export.questionnaire_dataframe(study)
    parquet = pd.read_parquet(io.BytesIO(export.parquet_bytes(frame)))
    assert parquet["value_number"].tolist()[:3] == [30.0, pytest.approx(float("nan"), nan_ok=True), 4.0]
    assert parquet.loc[4, "value"] == "=cmd|' /C calc'!A0"  # exact in Parquet
    assert parquet["answered_at"].dt.tz is not None


def test_trials_export_carries_the_confidence(answered):
    study, a, b = answered
    trials = export.trials_dataframe(study)
    assert trials["confidence"].dtype == "Int64"
    assert trials.groupby("participant")["confidence"].unique().map(list).to_dict() == {a.pk: [5], b.pk: [2]}


def test_export_results_and_analyze_study_write_the_questionnaire_tables(answered, tmp_path):
    study, a, b = answered
    call_command("export_results", "exp", "--out", str(tmp_path / "x"), "--format", "both",
                 stdout=io.StringIO())
    assert {"questionnaire.csv", "questionnaire.parquet"} <= {p.name for p in (tmp_path / "x").iterdir()}
    call_command("analyze_study", "exp", "--out", str(tmp_path / "a"), stdout=io.StringIO())
    confidence = pd.read_csv(tmp_path / "a" / "confidence.csv")
    # by hand from the database: a always right at 5, b always wrong at 2 (no attention checks here)
    n = Trial.objects.filter(participant=a).count()
    columns = ["arm", "confidence", "n_participants", "n_answers", "accuracy"]
    expected = sorted([[a.arm.name, 5, 1, n, 1.0], [b.arm.name, 2, 1, n, 0.0]])
    assert confidence[columns].values.tolist() == expected
    numbers = pd.read_csv(tmp_path / "a" / "questionnaire_numbers.csv").set_index(["question", "arm"])
    assert numbers.loc[("age", a.arm.name), "mean"] == 30.0
    assert numbers.loc[("trust", b.arm.name), "n"] == 1
    options = pd.read_csv(tmp_path / "a" / "questionnaire_options.csv", keep_default_na=False)
    assert options[options["question"] == "tools"]["option"].tolist() == ["ChatGPT", "None"]


def test_analyze_study_summarises_the_questionnaire_of_table_1s_participants(answered, tmp_path):
    """A participant who answers the first block and then withdraws (answers kept, flagged) is in
    questionnaire.csv but in neither Table 1 nor the questionnaire summaries."""
    study, a, b = answered
    study.withdrawal_policy = study.WithdrawalPolicy.KEEP
    study.save(update_fields=["withdrawal_policy"])
    client = Client()
    leaver = consent(client, study.slug)
    client.post(f"/p/{leaver.token}/intro/")
    block = study.questionnaire_blocks.get(placement="before")
    age = block.questions.get(key="age")
    assert client.post(f"/p/{leaver.token}/block/{block.pk}/", {f"q{age.pk}": "77"}).status_code == 302
    assert client.post(f"/p/{leaver.token}/withdraw/").status_code == 200
    leaver.refresh_from_db()
    assert leaver.status == Participant.Status.WITHDRAWN
    assert 77.0 in export.questionnaire_dataframe(study)["value_number"].tolist()

    call_command("analyze_study", "exp", "--out", str(tmp_path / "a"), stdout=io.StringIO())
    numbers = pd.read_csv(tmp_path / "a" / "questionnaire_numbers.csv")
    ages = numbers[numbers["question"] == "age"]
    assert ages["n"].sum() == 2 and ages["max"].max() == 41.0  # a and b; not the leaver's 77
    table1 = pd.read_csv(tmp_path / "a" / "table1.csv")
    assert table1.groupby("arm")["n"].max().sum() == 2  # the same two participants
