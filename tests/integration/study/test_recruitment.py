"""Issue 11, participant flow: preview runs, recruitment ids and codes in the exports, one participant per
external id, the completion redirect, declining consent and withdrawing."""
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test import Client
from django.urls import reverse

from study.models import Participant, Study, Trial
from study.research import dashboard, export
from study.survey import enrolment, recruitment
from tests.factories import make_study
from tests.integration.study.participant_helpers import consent, current_trial, post_answer, run_to_completion

PROLIFIC = "?PROLIFIC_PID=pid-A&STUDY_ID=study-7&SESSION_ID=session-1"


@pytest.fixture
def owner_client(client, django_user_model):
    """A staff user (not a superuser) who owns the studies made with `owner=`."""
    user = django_user_model.objects.create_user("owner", password="pw-Secret-123", is_staff=True)
    client.force_login(user)
    client.user = user
    return client


def start_preview(client, study: Study, arm_name: str) -> Participant:
    arm = study.arms.get(name=arm_name)
    response = client.post(reverse("researcher-preview", args=[study.slug]), {"arm": arm.pk})
    assert response.status_code == 302
    return Participant.objects.get(token=response.url.split("/")[2])


def read_export(client, study: Study, table: str, fmt: str) -> pd.DataFrame:
    response = client.get(reverse(f"researcher-{table}-{fmt}", args=[study.slug]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(body), keep_default_na=False, dtype=str)
    return pd.read_parquet(io.BytesIO(body))


# Preview


@pytest.mark.django_db
def test_staff_preview_a_draft_study_in_a_chosen_arm_and_it_counts_nowhere(owner_client):
    study = make_study(status=Study.Status.DRAFT, owner=owner_client.user, n_attention=1,
                       completion_redirect_url="https://example.org/done")
    assert owner_client.get("/s/s1/").status_code == 404  # participants still cannot see a draft
    preview = start_preview(owner_client, study, "pv")
    assert preview.is_preview and preview.arm.name == "pv" and preview.external_id == ""
    page = owner_client.get(f"/p/{preview.token}/")
    assert page.status_code == 200 and b"preview-banner" in page.content
    run_to_completion(owner_client, preview)
    done = owner_client.get(f"/p/{preview.token}/")
    assert b"preview-banner" in done.content and b"example.org" not in done.content  # no redirect to pay

    study.refresh_from_db()
    assert study.assignments_made == 0
    summary = dashboard.summarize(study)
    assert summary.total.started == summary.total.completed == summary.total.attention_failures == 0
    assert all(len(export.FRAMES[table](study)) == 0 for table in export.FRAMES)
    for table in ("trials", "participants"):
        assert len(read_export(owner_client, study, table, "csv")) == 0
    assert [row[1:] for row in owner_client.get("/r/").context["rows"]] == [(0, 0)]  # started, completed
    assert Participant.objects.get(pk=preview.pk).status == Participant.Status.COMPLETED


@pytest.mark.django_db
def test_preview_runs_leave_round_robin_balance_and_caps_alone(owner_client):
    study = make_study(owner=owner_client.user, assignment_policy=Study.Assignment.BALANCED)
    study.arms.filter(name="gradcam").update(max_participants=1)
    for _ in range(3):  # previews fill gradcam past its cap and load it for balance
        start_preview(owner_client, study, "gradcam")
    first = consent(type(owner_client)())
    assert first.arm.name == "gradcam"  # still the emptiest arm, and below its cap
    Study.objects.filter(pk=study.pk).update(assignment_policy=Study.Assignment.ROUND_ROBIN)
    study.arms.update(max_participants=None)
    for _ in range(2):
        start_preview(owner_client, study, "pv")
    assert consent(type(owner_client)()).arm.name == "pv"  # counter at 1: the second arm
    assert Study.objects.get(pk=study.pk).assignments_made == 2


@pytest.mark.django_db
def test_preview_needs_view_access_a_post_and_an_arm_of_the_study(owner_client, django_user_model, client):
    study = make_study(owner=owner_client.user)
    other = make_study("other", owner=owner_client.user)
    url = reverse("researcher-preview", args=[study.slug])
    assert owner_client.get(url).status_code == 405
    assert owner_client.post(url, {"arm": "x"}).status_code == 400
    assert owner_client.post(url, {"arm": str(2**70)}).status_code == 400
    assert owner_client.post(url, {"arm": other.arms.first().pk}).status_code == 404
    stranger = type(client)()
    stranger.force_login(django_user_model.objects.create_user("stranger", password="pw-Secret-123",
                                                                is_staff=True))
    assert stranger.post(url, {"arm": study.arms.first().pk}).status_code == 404
    assert type(client)().post(url, {"arm": study.arms.first().pk}).status_code == 302  # to the login page
    assert Participant.objects.count() == 0
    dashboard_page = owner_client.get(reverse("researcher-dashboard", args=[study.slug])).content.decode()
    assert f'action="{url}"' in dashboard_page and "csrfmiddlewaretoken" in dashboard_page


# Recruitment ids


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_prolific_ids_and_the_completion_code_are_in_both_exports(owner_client, fmt):
    study = make_study(owner=owner_client.user, n_attention=1)
    participants = []
    for n, query in enumerate([PROLIFIC, "?workerId=W9&assignmentId=A1&hitId=H2", "?participant_label=lab-3"]):
        browser = type(owner_client)()
        participant = consent(browser, query=query)
        run_to_completion(browser, participant)
        participants.append(Participant.objects.get(pk=participant.pk))
    half = consent(type(owner_client)(), query="?PROLIFIC_PID=pid-half")

    people = read_export(owner_client, study, "participants", fmt).set_index("participant")
    trials = read_export(owner_client, study, "trials", fmt)
    a, w, lab = participants
    expected = {
        a.pk: {"PROLIFIC_PID": "pid-A", "STUDY_ID": "study-7", "SESSION_ID": "session-1"},
        w.pk: {"workerId": "W9", "assignmentId": "A1", "hitId": "H2"},
        lab.pk: {"participant_label": "lab-3"},
        half.pk: {"PROLIFIC_PID": "pid-half"},
    }
    for participant in [*participants, half]:
        row = people.loc[int(participant.pk)] if fmt == "parquet" else people.loc[str(participant.pk)]
        got = {name: row[name] for name in recruitment.RECRUITMENT_PARAMS if row[name]}
        assert got == expected[participant.pk]
        assert row["completion_code"] == participant.completion_code
        mine = trials[trials["participant"].astype(str) == str(participant.pk)]
        assert len(mine) == participant.trials.filter(answered_at__isnull=False).count()
        assert set(mine["completion_code"]) <= {participant.completion_code}
        for name, value in expected[participant.pk].items():
            assert set(mine[name]) <= {value}
    assert len(a.completion_code) == 10 and half.completion_code == ""


@pytest.mark.django_db
@pytest.mark.parametrize("query", [PROLIFIC, "?workerId=W1&assignmentId=A1&hitId=H1", "?participant_label=p-7"])
def test_a_returning_external_id_resumes_its_participant_then_has_already_taken_part(client, query):
    study = make_study()
    participant = consent(client, query=query)
    assert client.post(f"/p/{participant.token}/intro/").status_code == 302
    first = current_trial(client, participant)
    post_answer(client, participant, first)

    new_browser = type(client)()
    resumed = new_browser.get(f"/s/s1/{query}")
    assert resumed.status_code == 302 and resumed.url == f"/p/{participant.token}/"
    again = post_consent_with(query)  # a consent form loaded without the id, sent with it from a third browser
    assert again.status_code == 302 and again.url == f"/p/{participant.token}/"
    assert Participant.objects.count() == 1 and Study.objects.get(pk=study.pk).assignments_made == 1
    assert current_trial(new_browser, participant).presented_position == 1

    run_to_completion_from_question(new_browser, participant)
    page = type(client)().get(f"/s/s1/{query}")
    assert page.status_code == 200 and b"already taken part" in page.content
    assert participant.token.encode() not in page.content
    assert client.get(f"/s/s1/{query}").url == f"/p/{participant.token}/"  # its own browser: the code page
    assert b"already taken part" in post_consent_with(query).content  # the same, once the study is done
    assert Participant.objects.count() == 1


def post_consent_with(query: str):
    """POST, from a new browser, a consent form loaded from the plain study link, with the query's ids."""
    browser = Client()
    landing = browser.get("/s/s1/")
    params = dict(pair.split("=") for pair in query[1:].split("&"))
    return browser.post("/s/s1/", {"consent_key": landing.context["consent_key"], **params})


def run_to_completion_from_question(client, participant: Participant) -> None:
    while participant.trials.filter(answered_at__isnull=True).exists():
        assert post_answer(client, participant, current_trial(client, participant)).status_code == 302


@pytest.mark.django_db
def test_ids_on_other_platforms_or_studies_are_other_people(client):
    make_study()
    make_study("s2")
    ids = {consent(type(client)(), query=q).pk for q in ["?PROLIFIC_PID=x", "?workerId=x", "?participant_label=x"]}
    ids.add(consent(type(client)(), "s2", "?PROLIFIC_PID=x").pk)
    ids.add(consent(type(client)()).pk)
    ids.add(consent(type(client)()).pk)  # no id: a new participant each time
    assert len(ids) == Participant.objects.count() == 6


@pytest.mark.django_db(transaction=True)
def test_the_database_allows_one_participant_per_external_id_and_study():
    study = make_study()
    arm = study.arms.first()
    Participant.objects.create(study=study, arm=arm, external_id="prolific:p1")
    Participant.objects.create(study=study, arm=arm)
    Participant.objects.create(study=study, arm=arm)  # empty ids do not clash
    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.create(study=study, arm=arm, external_id="prolific:p1")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_consents_with_the_same_prolific_id_make_one_participant():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    study = make_study(n_correct=2, n_incorrect=1)
    workers = 8
    barrier = threading.Barrier(workers)
    keys = [enrolment.issue_consent_key(study) for _ in range(workers)]  # eight browsers, eight forms

    def send(key: str) -> int:
        barrier.wait()
        try:
            return enrolment.consent(study, key, {"PROLIFIC_PID": "same-person", "SESSION_ID": key[:8]}).pk
        finally:
            connections.close_all()

    with ThreadPoolExecutor(workers) as pool:
        created = set(pool.map(send, keys))
    assert len(created) == 1 and Participant.objects.count() == 1
    assert Participant.objects.get().external_id == "prolific:same-person"
    assert Trial.objects.count() == 3
    assert Study.objects.get(pk=study.pk).assignments_made == 1  # the losers' counter bumps rolled back


# Completion redirect


@pytest.mark.django_db
@pytest.mark.parametrize("url, expected", [
    ("https://app.prolific.com/submissions/complete", "https://app.prolific.com/submissions/complete?cc={}"),
    ("https://example.org/done?study=9", "https://example.org/done?study=9&cc={}"),
    ("https://example.org/finish/{code}/?x=1", "https://example.org/finish/{}/?x=1"),
])
def test_the_last_answer_redirects_to_the_completion_url_with_the_code(client, url, expected):
    make_study(completion_redirect_url=url)
    participant = consent(client, query=PROLIFIC)
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(4):
        assert post_answer(client, participant, current_trial(client, participant)).url.startswith("/p/")
    last = current_trial(client, participant)
    response = post_answer(client, participant, last)
    participant.refresh_from_db()
    assert response.status_code == 302 and response.url == f"/p/{participant.token}/complete/"
    assert post_answer(client, participant, last).url == response.url  # a double submit, the same
    forwarding = client.get(response.url)  # forwards at once, the code in the platform's URL
    assert forwarding.context["forward_url"] == expected.format(participant.completion_code)
    assert b'<meta http-equiv="refresh" content="0;url=' in forwarding.content
    page = client.get(f"/p/{participant.token}/")  # the fallback: code and link on the completion page
    assert participant.completion_code.encode() in page.content and b"Return to the recruitment" in page.content


@pytest.mark.django_db
def test_without_a_redirect_url_the_last_answer_shows_the_completion_page(client):
    make_study()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(5):
        response = post_answer(client, participant, current_trial(client, participant))
        assert response.url == f"/p/{participant.token}/"


# Consent page: decline, contact and ethics


@pytest.mark.django_db
def test_consent_shows_contact_and_ethics_and_declining_writes_nothing(client):
    study = make_study(contact_text="Dr Ada, <a href='mailto:ada@example.org'>ada@example.org</a>"
                                    "<script>alert(1)</script>",
                       ethics_text="Approved by the ethics board, ref. EB-42.")
    landing = client.get(f"/s/s1/{PROLIFIC}")
    body = landing.content.decode()
    assert "ada@example.org" in body and "EB-42" in body and "alert(1)" not in body
    assert "I do not agree" in body and reverse("participant-declined", args=["s1"]) in body
    declined = client.get(reverse("participant-declined", args=["s1"]) + PROLIFIC)
    assert declined.status_code == 200 and b"Nothing about you was recorded" in declined.content
    assert b"ada@example.org" in declined.content
    assert client.post(reverse("participant-declined", args=["s1"])).status_code == 405
    assert Participant.objects.count() == 0 and Study.objects.get(pk=study.pk).assignments_made == 0
    assert client.get(reverse("participant-declined", args=["nope"])).status_code == 404


# Withdrawal


@pytest.mark.django_db
@pytest.mark.parametrize("policy", [Study.WithdrawalPolicy.KEEP, Study.WithdrawalPolicy.DELETE])
def test_withdrawing_keeps_or_deletes_the_answers_and_ends_the_study(client, policy):
    study = make_study(withdrawal_policy=policy)
    participant = consent(client, query=PROLIFIC)
    client.post(f"/p/{participant.token}/intro/")
    question = client.get(f"/p/{participant.token}/")
    withdraw_url = reverse("participant-withdraw", args=[participant.token])
    assert withdraw_url.encode() in question.content  # the link is on every page of the study
    for _ in range(2):
        post_answer(client, participant, current_trial(client, participant))
    confirm = client.get(withdraw_url)
    assert confirm.status_code == 200 and b"Yes, withdraw" in confirm.content
    assert Participant.objects.get(pk=participant.pk).status == Participant.Status.ACTIVE  # GET writes nothing

    done = client.post(withdraw_url)
    assert done.status_code == 200 and b"You have withdrawn" in done.content
    assert client.post(withdraw_url).status_code == 200  # a double submit: the same confirmation
    participant.refresh_from_db()
    assert participant.status == Participant.Status.WITHDRAWN
    answered = Trial.objects.filter(participant=participant, answered_at__isnull=False).count()
    assert answered == (2 if policy == "keep" else 0)
    assert Trial.objects.filter(participant=participant).count() == (5 if policy == "keep" else 0)

    assert client.get(f"/p/{participant.token}/").status_code == 410  # cannot continue
    assert client.post(f"/p/{participant.token}/answer/", {"trial": 1, "option": "x"}).status_code == 410
    assert type(client)().get(f"/s/s1/{PROLIFIC}").status_code == 410  # nor come back with the same id
    assert dashboard.summarize(study).total.withdrawn == 1
    assert dashboard.summarize(study).total.started == 1
    trials = export.trials_dataframe(study)
    assert len(trials) == answered and trials["withdrawn"].all()
    assert export.participants_dataframe(study)["status"].tolist() == ["withdrawn"]


@pytest.mark.django_db
def test_a_completed_participant_cannot_withdraw_and_strangers_get_404(client):
    make_study()
    participant = consent(client)
    run_to_completion(client, participant)
    url = reverse("participant-withdraw", args=[participant.token])
    assert client.post(url).status_code == 410
    assert client.get(url).status_code == 302  # to the completion page
    assert Participant.objects.get(pk=participant.pk).status == Participant.Status.COMPLETED
    assert client.post(reverse("participant-withdraw", args=["forged-token"])).status_code == 404
    assert client.get(reverse("participant-withdraw", args=["forged-token"])).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("policy", [Study.WithdrawalPolicy.KEEP, Study.WithdrawalPolicy.DELETE])
def test_withdrawing_keeps_or_deletes_the_questionnaire_answers_too(client, policy):
    from django.utils import timezone

    from study.models import QuestionnaireAnswer
    from study.survey.questionnaire import create_blocks, parse_questionnaire

    study = make_study(withdrawal_policy=policy)
    create_blocks(study, parse_questionnaire({"blocks": [{"placement": "after", "title": "About you",
                                                                   "demographics": ["age"]}]}))
    participant = consent(client, query=PROLIFIC)
    question = study.questionnaire_blocks.get().questions.get()
    QuestionnaireAnswer.objects.create(participant=participant, question=question, value=30,
                                       answered_at=timezone.now())
    assert client.post(reverse("participant-withdraw", args=[participant.token])).status_code == 200
    kept = QuestionnaireAnswer.objects.filter(participant=participant).count()
    assert kept == (1 if policy == "keep" else 0)
    assert len(export.questionnaire_dataframe(study)) == kept
