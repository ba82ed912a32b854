"""Study settings on the study's page: only edit access changes them, viewers see them read-only; paused
turns new participants away and lets started ones finish, closed refuses everyone; the consent Markdown
is rendered and sanitised."""

import pytest

from study.models import Access, Study
from study.models.access import StudyShare
from tests.factories import make_study
from tests.integration.study.participant_helpers import consent, current_trial, post_answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("owner", password="pw-Secret-123", is_staff=True)


@pytest.fixture
def study(owner):
    return make_study("s1", owner=owner)


def settings_form(study, **changes) -> dict:
    arms = {f"cap_{arm.pk}": "" for arm in study.arms.all()}
    return {"status": "open", "consent_markdown": "Hello", "contact_text": "", "ethics_text": "",
            "completion_redirect_url": "", "completion_codes": "participant", "completed_code": "",
            "failed_attention_code": "", "screened_out_code": "", "attention_failures_to_fail": "2",
            "assignment_policy": "round_robin", "withdrawal_policy": "keep", **arms, **changes}


def test_the_owner_saves_status_markdown_consent_redirect_policy_and_caps(client, owner, study):
    client.force_login(owner)
    Study.objects.filter(pk=study.pk).update(consent_text="<p>Built <b>consent</b></p>")
    page = client.get("/r/studies/s1/")
    assert page.status_code == 200 and b'id="study-settings"' in page.content
    assert page.context["settings_form"]["consent_markdown"].value() == "<p>Built <b>consent</b></p>"
    gradcam = study.arms.get(name="gradcam")
    markdown = ("# Consent\n\nYou may **stop** at any time. [Contact](https://example.org/c)\n\n"
                "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[bad](javascript:alert(3))")
    response = client.post("/r/studies/s1/settings/", settings_form(
        study, status="paused", consent_markdown=markdown,
        completion_redirect_url="https://app.prolific.com/x", withdrawal_policy="delete",
        contact_text="Write to <a href=\"mailto:lab@example.org\">the lab</a><script>alert(4)</script>",
        ethics_text="Approved by board 42",
        assignment_policy="balanced", **{f"cap_{gradcam.pk}": "12"}))
    assert response.status_code == 302 and response.url == "/r/studies/s1/"
    study.refresh_from_db()
    assert study.status == "paused" and study.assignment_policy == "balanced"
    assert study.completion_redirect_url == "https://app.prolific.com/x"
    assert study.withdrawal_policy == "delete" and study.ethics_text == "Approved by board 42"
    assert 'href="mailto:lab@example.org"' in study.contact_text and "<script" not in study.contact_text
    assert study.consent_markdown == markdown
    assert "<h1>Consent</h1>" in study.consent_text and "<strong>stop</strong>" in study.consent_text
    assert 'href="https://example.org/c"' in study.consent_text
    for bad in ("<script", "alert(1)", "onerror", "javascript:"):
        assert bad not in study.consent_text
    assert study.arms.get(name="gradcam").max_participants == 12
    assert study.arms.get(name="pv").max_participants is None
    landing = client.get("/s/s1/")  # the participant page shows the sanitised text, never the script
    assert b"<script>alert" not in landing.content


@pytest.mark.parametrize("changes, field", [({"status": "sleeping"}, "status"),
                                           ({"completion_redirect_url": "not a url"},
                                            "completion_redirect_url"),
                                           ({"assignment_policy": "x"}, "assignment_policy"),
                                           ({"completion_codes": "study"}, "completed_code"),
                                           ({"completed_code": "C1 ABC"}, "completed_code"),
                                           ({"screened_out_code": "x&cc=y"}, "screened_out_code"),
                                           ({"completion_codes": "any"}, "completion_codes")])
def test_bad_settings_are_named_and_nothing_is_saved(client, owner, study, changes, field):
    client.force_login(owner)
    gradcam = study.arms.get(name="gradcam")
    response = client.post("/r/studies/s1/settings/", settings_form(study, **changes,
                                                                      **{f"cap_{gradcam.pk}": "5"}))
    assert response.status_code == 400 and field in response.context["settings_form"].errors
    study.refresh_from_db()
    assert study.status == "open" and study.arms.get(name="gradcam").max_participants is None
    assert client.post("/r/studies/s1/settings/", settings_form(study, **{f"cap_{gradcam.pk}": "0"})
                       ).status_code == 400


def test_only_edit_access_changes_settings(client, django_user_model, study):
    viewer = django_user_model.objects.create_user("viewer", password="pw-Secret-123", is_staff=True)
    editor = django_user_model.objects.create_user("editor", password="pw-Secret-123", is_staff=True)
    stranger = django_user_model.objects.create_user("stranger", password="pw-Secret-123", is_staff=True)
    StudyShare.objects.create(study=study, user=viewer, access=Access.VIEW)
    StudyShare.objects.create(study=study, user=editor, access=Access.EDIT)
    client.force_login(viewer)
    page = client.get("/r/studies/s1/")
    assert page.status_code == 200 and b'id="study-settings"' not in page.content and b"Open" in page.content
    assert client.post("/r/studies/s1/settings/", settings_form(study, status="closed")).status_code == 403
    client.force_login(stranger)
    assert client.post("/r/studies/s1/settings/", settings_form(study, status="closed")).status_code == 404
    study.refresh_from_db()
    assert study.status == "open"
    client.force_login(editor)
    assert client.post("/r/studies/s1/settings/", settings_form(study, status="closed")).status_code == 302
    study.refresh_from_db()
    assert study.status == "closed"
    client.logout()
    assert client.post("/r/studies/s1/settings/", settings_form(study)).status_code == 302  # to the login
    assert "/accounts/login/" in client.post("/r/studies/s1/settings/", settings_form(study)).url


def test_paused_turns_new_participants_away_and_lets_started_ones_finish(client, study):
    started = consent(client, "s1")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    assert client.post(f"/p/{started.token}/intro/").status_code == 302  # the started participant goes on
    trial = current_trial(client, started)
    assert post_answer(client, started, trial).status_code == 302
    newcomer = type(client)()
    refused = newcomer.get("/s/s1/")
    assert refused.status_code == 503 and b"paused" in refused.content
    assert newcomer.post("/s/s1/", {"consent_key": "x"}).status_code == 503
    assert study.participants.count() == 1


def test_closed_refuses_new_and_started_participants(client, study):
    started = consent(client, "s1")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    assert client.get(f"/p/{started.token}/").status_code == 410
    assert type(client)().get("/s/s1/").status_code == 410


def test_the_owner_saves_the_completion_codes_and_the_attention_rule(client, owner, study):
    client.force_login(owner)
    assert b"This study is a draft" not in client.get("/r/studies/s1/").content
    Study.objects.filter(pk=study.pk).update(status="draft")  # as built: opened here after a review
    page = client.get("/r/studies/s1/")
    assert b"This study is a draft" in page.content
    for name in ("completion_codes", "completed_code", "failed_attention_code", "screened_out_code",
                 "attention_failures_to_fail"):
        assert f'name="{name}"'.encode() in page.content
    assert b"copy them below" in page.content  # the help text says where the codes come from
    response = client.post("/r/studies/s1/settings/", settings_form(
        study, completion_redirect_url="https://app.prolific.com/submissions/complete",
        completion_codes="study", completed_code="C1ABCDEF", failed_attention_code="CFAIL-2",
        screened_out_code="C_SCREEN", attention_failures_to_fail="3"))
    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.completion_codes, study.completed_code, study.failed_attention_code,
            study.screened_out_code, study.attention_failures_to_fail) == ("study", "C1ABCDEF", "CFAIL-2",
                                                                           "C_SCREEN", 3)


def test_consent_markdown_renders_the_same_on_the_consent_page_and_in_the_preview(client, owner, study):
    client.force_login(owner)
    markdown = "## What you will do\n\nGuess the prediction.\n\nSecond paragraph,\nwrapped.\n\n- a list"
    response = client.post("/r/studies/s1/settings/", settings_form(study, consent_markdown=markdown))
    assert response.status_code == 302
    study.refresh_from_db()
    html = study.consent_text
    assert html.startswith("<h2>What you will do</h2>")
    preview = client.get("/r/studies/s1/").content.decode()
    landing = client.get("/s/s1/").content.decode()
    assert f'<div class="consent-preview">{html}' in preview
    consent = landing[landing.index('<section class="consent">'):landing.index("</section>")]
    assert html in consent  # as it is: no <p> around the heading, no <br> added to the paragraphs
    assert "<br>" not in consent and "<p><h2>" not in consent
