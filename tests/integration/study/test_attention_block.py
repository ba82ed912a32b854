"""A BubbleView block before another design's questions (Study.attention_block): each participant first
clicks on every image that is not an attention check, blurred, in their arm, then answers the design's
questions as usual. The clicks are stored, exported and turned into a gaze data set as an attention study's
are; the questions' exports and analysis are those of the design alone."""
import json

import pandas as pd
import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from study import jobs
from study.gaze.clicks import clicks_dataset
from study.gaze.options import ImportOptions
from study.models import GazeDataset, Job, Participant, Stimulus, Study, Trial
from study.research.analysis import write_study_analysis
from study.research.clicks import clicks_rows
from study.research.export import participants_dataframe, trials_dataframe
from study.survey.designs.attention import BLURRED, CLICKS
from tests.factories import make_study
from tests.integration.study.design_helpers import answer_fields, page_of, post
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db
BLOCK = {"min_clicks": 1, "max_clicks": 3, "radius": 20, "task": "Click where the object is."}


def block_study(design="simulation", n_attention=1, **fields):
    """3 items and `n_attention` attention checks in arms gradcam and pv, the block before the questions."""
    return make_study("ab", design=design, attention_block=BLOCK, n_correct=2, n_incorrect=1,
                      n_attention=n_attention, **fields)


def started(client):
    participant = consent(client, "ab")
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    return participant


def click_block(client, participant, clicks):
    """Answer the block's pages with `clicks[i]` on the i-th; returns their trials in order."""
    trials = []
    for sent in clicks:
        page, _ = page_of(client, participant)
        assert page.trial.block == Trial.Block.ATTENTION
        assert post(client, participant, page.trial, clicks=json.dumps(sent)).status_code == 302
        trials.append(page.trial)
    return trials


def answer_questions(client, participant):
    for _ in range(participant.trials.filter(block="").count()):
        page, _ = page_of(client, participant)
        assert page.trial.block == Trial.Block.QUESTIONS
        fields = answer_fields(participant.study.design, page.trial, page.trial.item, True)
        assert post(client, participant, page.trial, **fields).status_code == 302


def test_the_block_comes_first_with_each_non_check_image_blurred_then_the_questions():
    block_study()
    client = Client()
    participant = started(client)
    trials = list(participant.trials.order_by("presented_position"))
    block = [t for t in trials if t.block == Trial.Block.ATTENTION]
    assert [t.presented_position for t in block] == [0, 1, 2]
    assert all(t.presented_options == [] for t in block)
    assert sorted(t.item.position for t in block) == [0, 1, 2]  # the attention check (3) is not in it
    questions = trials[3:]
    assert sorted(t.item.position for t in questions) == [0, 1, 2, 3]
    assert all(t.block == Trial.Block.QUESTIONS and t.presented_options for t in questions)

    page, html = page_of(client, participant)
    blurred = Stimulus.objects.get(item=page.trial.item, arm=participant.arm, target=BLURRED)
    assert page.stimulus.pk == blurred.pk and f'class="blurred" src="{blurred.image.url}"' in html
    assert "design-attention" in html and BLOCK["task"] in html and 'data-min-clicks="1"' in html
    assert 'data-radius="20.0"' in html and "Keys 1-" not in html
    # an option is no answer on a block page; nothing is written
    assert post(client, participant, page.trial, option=page.trial.item.model_prediction).status_code == 400
    assert Trial.objects.get(pk=page.trial.pk).answered_at is None
    click_block(client, participant, [[[1, 2, 0]], [[3, 4, 0], [5, 6, 7]], [[31, 31, 5]]])

    page, html = page_of(client, participant)  # the first question shows the arm's explanation
    explanation = Stimulus.objects.get(item=page.trial.item, arm=participant.arm,
                                       target=page.trial.item.model_prediction)
    assert page.trial.block == "" and page.stimulus.pk == explanation.pk
    assert "design-simulation" in html and explanation.image.url in html and "bubble-view" not in html
    assert post(client, participant, page.trial, clicks="[[1, 1, 0]]").status_code == 400  # no option
    answer_questions(client, participant)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    stored = [t.details for t in Trial.objects.filter(participant=participant, block="attention")
              .order_by("presented_position")]
    assert stored == [{"clicks": clicks, "width": 32, "height": 32}
                      for clicks in ([[1, 2, 0]], [[3, 4, 0], [5, 6, 7]], [[31, 31, 5]])]


def test_a_missing_blurred_image_keeps_the_study_closed_to_participants():
    study = block_study()
    Stimulus.objects.filter(item__study=study, target=BLURRED).first().delete()
    client = Client()
    landing = client.get("/s/ab/")
    response = client.post("/s/ab/", {"consent_key": landing.context["consent_key"]})
    assert response.status_code == 503 and not Participant.objects.exists()


@pytest.fixture
def two_done():
    """Two completed participants of a simulation study with a block (and a question refused)."""
    study = block_study()
    participants = []
    for n in range(2):
        client = Client()
        participant = started(client)
        click_block(client, participant, [[[n, n, 0]], [[10, 10, 0], [11, 11, 9]], [[5, 5, 1]]])
        answer_questions(client, participant)
        participants.append(participant)
    return study, participants


def test_exports_keep_the_questions_in_trials_and_the_clicks_in_clicks(two_done, client, django_user_model):
    study, participants = two_done
    trials = trials_dataframe(study)
    assert len(trials) == 8 and trials["correct_guess"].notna().all()  # 4 questions each, no block row
    assert participants_dataframe(study)["n_answered"].tolist() == [4, 4]
    rows = list(clicks_rows(study))
    assert len(rows) == 8 and {row[1] for row in rows} <= {"gradcam", "pv"}
    first = [row for row in rows if row[0] == participants[1].pk]
    assert [(row[4], row[5], row[6]) for row in first] == [(0, 1, 1), (0, 10, 10), (1, 11, 11), (0, 5, 5)]
    client.force_login(django_user_model.objects.create_superuser("boss", password="pw-Secret-123"))
    url = reverse("researcher-clicks-csv", args=["ab"])
    assert client.get(url).status_code == 200
    dashboard = client.get(reverse("researcher-dashboard", args=["ab"])).content.decode()
    assert url in dashboard and 'id="attention-block"' in dashboard and "bubble radius 20 px" in dashboard


def test_the_analysis_adds_the_block_clicks_summary_to_the_designs_tables(two_done, tmp_path):
    study, participants = two_done
    names = [path.name for path in write_study_analysis(study, tmp_path)]
    assert "table1.csv" in names and names[-1] == "clicks_summary.csv"
    summary = pd.read_csv(tmp_path / "clicks_summary.csv")
    by_participant = summary[summary["by"] == "participant"]
    assert by_participant["n"].tolist() == [3, 3] and by_participant["mean"].tolist() == [4 / 3, 4 / 3]
    assert summary[summary["by"] == "item"]["n"].tolist() == [2, 2, 2]


def test_the_block_clicks_become_a_gaze_data_set(two_done, isolated_media):
    study, participants = two_done
    dataset = clicks_dataset(study, options=ImportOptions(sigma_px=3))
    assert (dataset.source_format, dataset.n_observers, dataset.provenance["study"]) == ("clicks", 2, "ab")
    # one stimulus per clicked item: not the attention check
    assert sorted(dataset.stimuli.values_list("name", flat=True)) == ["img000", "img001", "img002"]


@pytest.mark.parametrize("design", ["agreement", "distinction", "learn_predict"])
def test_every_design_with_questions_takes_the_block(design):
    block_study(design=design, design_options={"rounds": 1, "train_per_round": 2, "test_per_round": 2}
                if design == "learn_predict" else None, n_attention=0)
    client = Client()
    participant = started(client)
    n_items = participant.study.items.count()
    click_block(client, participant, [[[1, 1, 0]]] * n_items)
    answer_questions(client, participant)
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED
    assert Trial.objects.filter(participant=participant, details__has_key="clicks").count() == n_items
    assert all(t.chosen_option == CLICKS for t in participant.trials.filter(block="attention"))


def test_a_participant_has_one_trial_per_item_and_block():
    block_study(n_attention=0)
    participant = started(Client())
    trial = participant.trials.filter(block="").first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Trial.objects.create(participant=participant, item=trial.item, presented_position=99,
                             presented_options=[], block=Trial.Block.QUESTIONS)
    assert participant.trials.filter(item=trial.item).count() == 2  # its question and its block page


def test_the_study_page_makes_the_clicks_a_gaze_data_set_in_a_job(two_done, client, django_user_model,
                                                                 jobs_inline, isolated_media):
    researcher = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    study, _ = two_done
    Study.objects.filter(pk=study.pk).update(owner=researcher)
    url = reverse("study-clicks-gaze", args=["ab"])
    assert client.post(url, {"name": "ab-clicks", "sigma_px": "3"}).status_code == 302  # to the login page
    client.force_login(researcher)
    page = client.get(reverse("researcher-dashboard", args=["ab"])).content.decode()
    assert f'action="{url}"' in page and 'value="ab-clicks"' in page
    bad_posts = [({"name": "no spaces", "sigma_px": "3"}, "name:"),
                 ({"name": "x", "sigma_px": "0"}, "sigma_px:"), ({"name": "x"}, "sigma_px:")]
    for bad, reason in bad_posts:
        response = client.post(url, bad)
        assert response.status_code == 400 and reason in response.content.decode()
    assert not Job.objects.exists()
    with jobs_inline():
        response = client.post(url, {"name": "ab-clicks", "sigma_px": "3"})
    job = Job.objects.get()
    assert response.url == f"/r/jobs/{job.pk}/" and job.state == "done", job.error
    dataset = GazeDataset.objects.get(name="ab-clicks")
    assert (dataset.owner, dataset.source_format, dataset.sigma_px, dataset.n_observers) == (
        researcher, "clicks", 3.0, 2)
    assert job.result == {"data set": reverse("gaze-dataset", args=["ab-clicks"])}
    # a worker killed after the import committed: the retry finds the data set its job made, and ends done
    assert jobs.kind_of(job).run(job, lambda *progress: None) == job.result
    assert GazeDataset.objects.filter(name="ab-clicks").count() == 1
    response = client.post(url, {"name": "ab-clicks", "sigma_px": "3"})
    assert response.status_code == 400 and "exists already" in response.content.decode()
    make_study("plain", owner=researcher)
    assert client.post(reverse("study-clicks-gaze", args=["plain"]),
                       {"name": "p", "sigma_px": "3"}).status_code == 404
