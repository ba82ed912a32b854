"""An attention study's exports: one row per click (clicks_rows, clicks.csv for researchers only), the
click count in trials.csv, and the analysis' summary of clicks per image and participant."""
import csv
import io
import json

import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from study.models import Participant, Trial
from study.models.study import CONTROL
from study.research.analysis import write_study_analysis
from study.research.clicks import CLICK_COLUMNS, clicks_dataframe, clicks_rows
from study.research.export import trials_dataframe
from study.survey import enrolment
from tests.factories import make_study
from tests.integration.study.design_helpers import page_of, post
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db
# per participant, the clicks on each of their trials in the order they met them
CLICKS = [[[[1, 2, 0], [3.5, 4, 10]], [[5, 6, 7]], [[0, 0, 0], [1, 1, 1], [2, 2, 2]]],
          [[[9, 9, 100]], [[8, 8, 0], [7, 7, 50]], [[31.9, 31.9, 3]]]]


@pytest.fixture
def answered():
    study = make_study("b1", design="attention", design_options={"min_clicks": 1, "max_clicks": 3},
                       techniques=(CONTROL,), n_correct=2, n_incorrect=1)
    participants = []
    for clicks in CLICKS:
        client = Client()
        participant = consent(client, "b1")
        client.post(f"/p/{participant.token}/intro/")
        for sent in clicks:
            page, _ = page_of(client, participant)
            assert post(client, participant, page.trial, clicks=json.dumps(sent)).status_code == 302
        participants.append(participant)
    preview = enrolment.start_preview(study, study.arms.get().pk)  # answered, and counted nowhere
    Trial.objects.filter(participant=preview).update(details={"clicks": [[1, 1, 1]]}, answered_at=timezone.now(),
                                                     chosen_option="(clicks)")
    return study, participants


def expected_rows(participants):
    rows = []
    for participant, clicks in zip(participants, CLICKS):
        trials = Trial.objects.filter(participant=participant).order_by("presented_position")
        for trial, sent in zip(trials, clicks):
            rows += [(participant.pk, CONTROL, trial.item.name, trial.item.position, n, *click)
                     for n, click in enumerate(sent)]
    return rows


def test_clicks_rows_give_one_row_per_click_in_item_pixels(answered):
    study, participants = answered
    assert list(clicks_rows(study)) == expected_rows(participants)
    frame = clicks_dataframe(study)
    assert list(frame.columns) == list(CLICK_COLUMNS) and len(frame) == 10  # 2 + 1 + 3 and 1 + 2 + 1
    assert frame["x"].sum() == pytest.approx(1 + 3.5 + 5 + 0 + 1 + 2 + 9 + 8 + 7 + 31.9)
    trials = trials_dataframe(study)
    assert sorted(trials["n_clicks"]) == [1, 1, 1, 2, 2, 3]


def test_clicks_csv_is_for_researchers_and_attention_studies(answered, client, django_user_model):
    study, participants = answered
    url = reverse("researcher-clicks-csv", args=["b1"])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_user("someone", password="pw-Secret-123"))
    assert client.get(url).status_code == 403
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw-Secret-123"))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == list(CLICK_COLUMNS)
    assert rows[1:] == [[str(value) for value in row] for row in expected_rows(participants)]
    assert url in client.get(reverse("researcher-dashboard", args=["b1"])).content.decode()
    make_study("s1")
    assert client.get(reverse("researcher-clicks-csv", args=["s1"])).status_code == 404


def test_the_analysis_summarises_clicks_per_image_and_participant(answered, tmp_path):
    study, participants = answered
    paths = write_study_analysis(study, tmp_path)
    assert [path.name for path in paths] == ["clicks_summary.csv", "table1.md"]
    summary = pd.read_csv(tmp_path / "clicks_summary.csv")
    by_participant = summary[summary["by"] == "participant"].set_index("value")
    first, second = (p.pk for p in participants)
    assert by_participant.loc[str(first)].tolist() == ["participant", 3, 2.0, 2.0]  # 2, 1, 3 clicks
    assert by_participant.loc[str(second)].tolist() == ["participant", 3, 4 / 3, 1.0]  # 1, 2, 1
    by_item = summary[summary["by"] == "item"]
    assert by_item["n"].tolist() == [2, 2, 2] and by_item["mean"].sum() == pytest.approx(10 / 2)
    assert Participant.objects.filter(is_preview=False).count() == 2
