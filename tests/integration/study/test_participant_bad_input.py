"""Bad input on the participant pages: a clear page or 4xx, nothing written, nothing lost."""
import io

import pytest
from django.core.management import call_command
from django.test import Client

from study.models import Participant, Stimulus, Study, Trial
from tests.factories import make_study
from tests.integration.study.participant_helpers import consent, current_trial, post_answer

pytestmark = pytest.mark.django_db


def answered(participant: Participant) -> list[tuple]:
    return list(participant.trials.order_by("pk").values_list("chosen_option", "answered_at", "rt_ms"))


@pytest.fixture
def at_first_question(client):
    make_study()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    return participant, current_trial(client, participant)


@pytest.mark.parametrize("status, code", [(Study.Status.DRAFT, 404), (Study.Status.CLOSED, 410)])
def test_draft_and_closed_studies_take_nobody(client, status, code):
    make_study(status=status)
    assert client.get("/s/s1/").status_code == code
    response = client.post("/s/s1/", {"consent_key": "k" * 32})
    assert response.status_code == code
    assert Participant.objects.count() == 0 and Study.objects.get().assignments_made == 0


def test_unknown_study_and_forged_token_are_404(client):
    make_study()
    assert client.get("/s/nope/").status_code == 404
    response = client.get("/p/forged-token-000000000000000000/")
    assert response.status_code == 404
    assert b"not valid" in response.content


def test_a_closed_study_stops_answers_but_still_shows_a_completion_code(client, at_first_question):
    participant, trial = at_first_question
    done = consent(Client())
    Participant.objects.filter(pk=done.pk).update(status="completed", completed_at=done.consented_at,
                                                  completion_code="ABCDEFGHJK")
    Study.objects.update(status=Study.Status.CLOSED)
    assert client.get(f"/p/{participant.token}/").status_code == 410
    assert post_answer(client, participant, trial).status_code == 410
    assert Trial.objects.filter(answered_at__isnull=False).count() == 0
    assert b"ABCDEFGHJK" in Client().get(f"/p/{done.token}/").content


def test_withdrawn_participant_is_gone(client, at_first_question):
    participant, trial = at_first_question
    Participant.objects.filter(pk=participant.pk).update(status=Participant.Status.WITHDRAWN)
    assert post_answer(client, participant, trial).status_code == 410
    assert answered(participant)[0][0] == ""


def test_an_option_not_offered_is_refused(client, at_first_question):
    participant, trial = at_first_question
    before = answered(participant)
    response = post_answer(client, participant, trial, "Spaceship")
    assert response.status_code == 400 and b"choose one of the options" in response.content
    assert answered(participant) == before


def test_a_question_not_reached_is_refused(client, at_first_question):
    participant, trial = at_first_question
    later = participant.trials.get(presented_position=3)
    assert post_answer(client, participant, later, later.presented_options[0]).status_code == 409
    assert participant.trials.filter(answered_at__isnull=False).count() == 0


def test_answers_before_the_intro_are_refused(client):
    make_study()
    participant = consent(client)
    first = participant.trials.get(presented_position=0)
    assert post_answer(client, participant, first).status_code == 409
    assert participant.trials.filter(answered_at__isnull=False).count() == 0


def test_another_participants_question_is_not_found(client, at_first_question):
    participant, trial = at_first_question
    other = consent(Client())
    form = {"trial": trial.pk, "option": trial.presented_options[0]}
    response = client.post(f"/p/{other.token}/answer/", form)
    assert response.status_code == 404
    assert Trial.objects.filter(answered_at__isnull=False).count() == 0


@pytest.mark.parametrize("form", [
    {},
    {"trial": "abc", "option": "x"},
    {"trial": "1"},
    {"trial": "1", "option": "x" * 300},
    {"trial": "1", "option": "x", "rt_ms": "-5"},
    {"trial": "1", "option": "x", "rt_ms": "soon"},
])
def test_malformed_answers_are_refused(client, at_first_question, form):
    participant, trial = at_first_question
    form = {**form, "trial": trial.pk} if form.get("trial") == "1" else form
    assert client.post(f"/p/{participant.token}/answer/", form).status_code == 400
    assert participant.trials.filter(answered_at__isnull=False).count() == 0


def test_missing_csrf_token_is_refused():
    make_study()
    strict = Client(enforce_csrf_checks=True)
    landing = strict.get("/s/s1/")
    assert strict.post("/s/s1/", {"consent_key": landing.context["consent_key"]}).status_code == 403
    assert Participant.objects.count() == 0


def test_oversized_posts_are_refused():
    make_study()
    client = Client()
    landing = client.get("/s/s1/")
    padding = "x" * (70 * 1024)  # over DATA_UPLOAD_MAX_MEMORY_SIZE (64 KiB)
    form = {"consent_key": landing.context["consent_key"], "padding": padding}
    assert client.post("/s/s1/", form).status_code == 413
    assert Participant.objects.count() == 0


def test_bad_recruitment_parameters_and_consent_keys_are_refused(client):
    make_study()
    assert client.get("/s/s1/?PROLIFIC_PID=" + "x" * 201).status_code == 400
    assert client.post("/s/s1/", {"consent_key": "short"}).status_code == 400
    assert client.post("/s/s1/", {}).status_code == 400
    assert Participant.objects.count() == 0


def test_a_study_missing_explanation_images_is_not_started(client):
    make_study()
    Stimulus.objects.first().delete()
    landing = client.get("/s/s1/")
    response = client.post("/s/s1/", {"consent_key": landing.context["consent_key"]})
    assert response.status_code == 503
    assert Participant.objects.count() == 0 and Study.objects.get().assignments_made == 0


def test_get_only_and_post_only_pages_refuse_other_methods(client, at_first_question):
    participant, _ = at_first_question
    assert client.get(f"/p/{participant.token}/answer/").status_code == 405
    assert client.post(f"/p/{participant.token}/").status_code == 405
    assert client.put("/s/s1/").status_code == 405


def test_no_ip_address_or_user_agent_is_stored_or_logged(caplog):
    make_study()
    client = Client(REMOTE_ADDR="203.0.113.77", HTTP_USER_AGENT="UniqueAgent/9.9 (probe)",
                    HTTP_X_FORWARDED_FOR="198.51.100.99")
    participant = consent(client, query="?PROLIFIC_PID=p1")
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(5):
        post_answer(client, participant, current_trial(client, participant))
    dump = io.StringIO()
    call_command("dumpdata", "study", "sessions", stdout=dump)
    stored = dump.getvalue() + caplog.text
    assert participant.token in stored  # the dump holds the participant's rows
    for probe in ("203.0.113.77", "198.51.100.99", "UniqueAgent"):
        assert probe not in stored
