"""Completion codes and redirects per outcome: completed, failed attention checks, screened out (declined,
study full); study-level codes copied from Prolific or random per-participant codes; `cc=` never doubled;
the outcome, the code and every session id in the exports (CSV and Parquet)."""
import io
import re
from html import unescape

import pandas as pd
import pytest
from django.test import Client

from study.models import Arm, Participant, RecruitmentRecord, Study
from study.models.study import CANT_TELL
from study.research import export
from study.survey import completion, enrolment
from tests.factories import make_study
from tests.integration.study.participant_helpers import consent, current_trial, post_answer

pytestmark = pytest.mark.django_db

PLATFORM = "https://app.prolific.com/submissions/complete"
CODES = {"completion_codes": "study", "completed_code": "C1ABCDEF", "failed_attention_code": "CFAILED1",
         "screened_out_code": "CSCREEN1"}
REFRESH_RE = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]*)">')


def forwards_to(response) -> str:
    """The URL a page's meta refresh forwards to ("" without one)."""
    match = REFRESH_RE.search(response.content.decode())
    return unescape(match.group(1)) if match else ""


def finish(client: Client, participant: Participant, failed_checks: int = 0):
    """Read the intro and answer every question correctly but the first `failed_checks` attention checks;
    return the response to the last answer."""
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(participant.trials.count()):
        trial = current_trial(client, participant)
        option = trial.item.answer
        if trial.item.is_attention_check and failed_checks:
            option = next(o for o in trial.presented_options if o not in (option, CANT_TELL))
            failed_checks -= 1
        response = post_answer(client, participant, trial, option)
    return response


@pytest.mark.parametrize("failed_checks, limit, outcome, code", [
    (0, 2, "completed", "C1ABCDEF"),
    (1, 2, "completed", "C1ABCDEF"),  # one failure under a limit of two
    (2, 2, "failed_attention", "CFAILED1"),
    (1, 1, "failed_attention", "CFAILED1"),
    (2, 0, "completed", "C1ABCDEF"),  # 0: checks never fail a participant
])
def test_each_finishing_outcome_gets_its_study_code_in_its_redirect(client, failed_checks, limit, outcome,
                                                                   code):
    make_study(n_attention=2, completion_redirect_url=PLATFORM, attention_failures_to_fail=limit, **CODES)
    participant = consent(client, query="?PROLIFIC_PID=pid-1&SESSION_ID=se-1")
    response = finish(client, participant, failed_checks)
    participant.refresh_from_db()
    assert participant.status == "completed"
    assert (participant.outcome, participant.completion_code) == (outcome, code)
    # The last answer stays on this site (CSP form-action 'self'); its completion page forwards at once.
    assert response.status_code == 302 and response.url == f"/p/{participant.token}/complete/"
    page = client.get(response.url)
    assert forwards_to(page) == f"{PLATFORM}?cc={code}"
    assert code in page.content.decode() and b"Return to the recruitment platform" in page.content
    # The participant's own page shows the code and the button, and forwards no more.
    again = client.get(f"/p/{participant.token}/")
    assert code in again.content.decode() and forwards_to(again) == ""


def test_failed_attention_without_its_own_code_gets_the_completed_code(client):
    make_study(n_attention=2, completion_redirect_url=PLATFORM, **(CODES | {"failed_attention_code": ""}))
    participant = consent(client)
    finish(client, participant, failed_checks=2)
    participant.refresh_from_db()
    assert (participant.outcome, participant.completion_code) == ("failed_attention", "C1ABCDEF")


def test_per_participant_codes_are_random_and_still_carry_the_outcome(client):
    make_study(n_attention=2, completion_redirect_url="https://worker.example.org/submit?assignmentId=a1",
               completion_codes="participant", completed_code="C1ABCDEF")
    first, second = consent(client), consent(Client())
    finish(client, first, failed_checks=2)
    finish(Client(), second)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.outcome, second.outcome) == ("failed_attention", "completed")
    for participant in (first, second):
        assert re.fullmatch(f"[{completion.CODE_ALPHABET}]{{10}}", participant.completion_code)
    assert first.completion_code != second.completion_code
    assert completion.completion_url(first) == (
        f"https://worker.example.org/submit?assignmentId=a1&cc={first.completion_code}")


def test_a_preview_is_never_forwarded(client):
    study = make_study(completion_redirect_url=PLATFORM, **CODES)
    participant = enrolment.start_preview(study, study.arms.first().pk)
    assert client.get(f"/p/{participant.token}/complete/").url == f"/p/{participant.token}/"  # not done yet
    finish(client, participant)
    participant.refresh_from_db()
    assert participant.status == "completed" and completion.completion_url(participant) == ""
    page = client.get(f"/p/{participant.token}/complete/")
    assert forwards_to(page) == "" and b"Your completion code is" in page.content


@pytest.mark.parametrize("url, expected", [
    (f"{PLATFORM}?cc=C1ABCDEF", f"{PLATFORM}?cc=CODE2"),  # the URL's own cc set, not a second one
    (f"{PLATFORM}?a=1&cc=OLD&b=", f"{PLATFORM}?a=1&cc=CODE2&b="),
    (PLATFORM, f"{PLATFORM}?cc=CODE2"),
    ("https://example.org/finish/{code}/?x=1", "https://example.org/finish/CODE2/?x=1"),
])
def test_cc_is_added_only_when_the_url_has_none(url, expected):
    assert completion.with_code(url, "CODE2") == expected
    assert completion.with_code(url, "") == url


def test_declining_forwards_with_the_screened_out_code(client):
    study = make_study(completion_redirect_url=f"{PLATFORM}?cc=C1ABCDEF", **CODES)
    page = client.get("/s/s1/declined/")
    assert page.status_code == 200 and forwards_to(page) == f"{PLATFORM}?cc=CSCREEN1"
    assert b"Return to the recruitment platform" in page.content
    assert not Participant.objects.exists()
    Study.objects.filter(pk=study.pk).update(screened_out_code="")  # no code: asked to return the study
    page = client.get("/s/s1/declined/")
    assert forwards_to(page) == "" and b"please return the study there" in page.content


def test_a_full_study_forwards_with_the_screened_out_code_and_writes_nothing(client):
    study = make_study(completion_redirect_url=PLATFORM, **CODES)
    Arm.objects.filter(study=study).update(max_participants=1)
    consent(client), consent(Client())  # one in each arm: every arm is full now
    newcomer = Client()
    landing = newcomer.get("/s/s1/?PROLIFIC_PID=late")
    form = {"consent_key": landing.context["consent_key"], "PROLIFIC_PID": "late"}
    response = newcomer.post("/s/s1/", form)
    assert response.status_code == 410 and b"has all the participants it needs" in response.content
    assert forwards_to(response) == f"{PLATFORM}?cc=CSCREEN1"
    assert Participant.objects.count() == 2


def test_every_session_of_a_returning_prolific_participant_is_recorded_and_exported(client):
    study = make_study()
    participant = consent(client, query="?PROLIFIC_PID=pid-1&STUDY_ID=st&SESSION_ID=se-1")
    # Back later in another browser with a new session, then twice in the first (its session cookie).
    back = Client().get("/s/s1/?PROLIFIC_PID=pid-1&STUDY_ID=st&SESSION_ID=se-2")
    assert back.url == f"/p/{participant.token}/"
    for session in ("se-3", "se-3", "se-1"):
        assert client.get(f"/s/s1/?PROLIFIC_PID=pid-1&SESSION_ID={session}").url == f"/p/{participant.token}/"
    client.get("/s/s1/?PROLIFIC_PID=someone-else&SESSION_ID=se-x")  # not this person's session
    record = RecruitmentRecord.objects.get(participant=participant)
    assert record.session_ids == ["se-1", "se-2", "se-3"]
    assert record.params == {"PROLIFIC_PID": "pid-1", "STUDY_ID": "st", "SESSION_ID": "se-1"}  # the first
    row = export.participants_dataframe(study).iloc[0]
    assert (row["SESSION_ID"], row["session_ids"]) == ("se-1", "se-1;se-2;se-3")


def test_exports_carry_outcome_and_code_in_csv_and_parquet(client):
    study = make_study(n_attention=2, completion_redirect_url=PLATFORM, **CODES)
    failed, completed, active = consent(client), consent(Client()), consent(Client())
    finish(client, failed, failed_checks=2)
    finish(Client(), completed)
    expected = {failed.pk: ("failed_attention", "CFAILED1"), completed.pk: ("completed", "C1ABCDEF"),
                active.pk: ("", "")}
    for table in ("participants", "trials"):
        frames = {
            "csv": pd.read_csv(io.StringIO("".join(export.EXPORTS[f"{table}.csv"](study))),
                               keep_default_na=False),
            "parquet": pd.read_parquet(io.BytesIO(export.parquet_bytes(export.FRAMES[table](study)))),
        }
        for fmt, frame in frames.items():
            columns = frame[["participant", "outcome", "completion_code"]]
            got = {int(p): (o, c) for p, o, c in columns.itertuples(index=False)}
            want = dict(expected)
            if table == "trials":  # answers only: the active participant gave none
                del want[active.pk]
            assert got == want, (table, fmt)
