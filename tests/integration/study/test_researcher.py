"""Researcher pages: access rule (staff only), the study list and the per-arm dashboard."""

from datetime import timedelta

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from study.models import Participant, Trial
from study.models.study import CANT_TELL
from study.research.dashboard import summarize
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def add_participant(
    study,
    arm_name,
    status="active",
    consented_ago=60,
    last_seen_ago=0,
    completed_ago=None,
    answers=(),
    now=None,
):
    """A participant of one arm; ``answers`` are (item position, chosen option); times in minutes ago."""
    now = now or timezone.now()
    arm = study.arms.get(name=arm_name)
    participant = Participant.objects.create(study=study, arm=arm)
    Participant.objects.filter(pk=participant.pk).update(
        status=status,
        consented_at=now - timedelta(minutes=consented_ago),
        last_seen_at=now - timedelta(minutes=last_seen_ago),
        completed_at=None if completed_ago is None else now - timedelta(minutes=completed_ago),
    )
    items = {item.position: item for item in study.items.all()}
    for place, (position, chosen) in enumerate(answers):
        item = items[position]
        Trial.objects.create(
            participant=participant,
            item=item,
            presented_position=place,
            presented_options=item.options[::-1],
            chosen_option=chosen,
            correct_guess=chosen == item.answer,
            rt_ms=1000 + place,
            shown_at=now,
            answered_at=now,
        )
    return participant


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True,
        is_superuser=True))
    return client


@pytest.fixture
def crafted():
    """Items 0-1 model right, 2 model wrong, 3 an attention check; see the expected figures in the tests."""
    study = make_study("crafted", n_correct=2, n_incorrect=1, n_attention=1, active_timeout_minutes=30)
    now = timezone.now()
    check = study.items.get(position=3)
    wrong = next(o for o in check.options if o != check.expected_option)
    right = check.expected_option

    def full(check_answer):
        return [(0, CANT_TELL), (1, "x"), (2, "y"), (3, check_answer)]

    # gradcam: three completed in 20, 30 and 40 min (the first fails the check), one active,
    # one dropped (silent 45 min, failed the check), one withdrawn.
    add_participant(study, "gradcam", "completed", 60, 40, 40, full(wrong), now)
    add_participant(study, "gradcam", "completed", 50, 20, 20, full(right), now)
    add_participant(study, "gradcam", "completed", 45, 5, 5, full(right), now)
    add_participant(study, "gradcam", "active", 10, 5, answers=[(0, "x")], now=now)
    add_participant(study, "gradcam", "active", 60, 45, answers=[(3, wrong)], now=now)
    add_participant(study, "gradcam", "withdrawn", 60, 50, now=now)
    # pv: one completed in 10 min, one dropped (silent 31 min > 30).
    add_participant(study, "pv", "completed", 15, 5, 5, full(right), now)
    add_participant(study, "pv", "active", 40, 31, answers=[(0, "x")], now=now)
    return study, now


def researcher_urls(slug):
    return [
        reverse("researcher-home"),
        reverse("researcher-dashboard", args=[slug]),
        reverse("researcher-trials-csv", args=[slug]),
        reverse("researcher-participants-csv", args=[slug]),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    make_study("s1")
    for url in researcher_urls("s1"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_logged_in_users_who_are_not_staff_are_refused(client, django_user_model):
    make_study("s1")
    client.force_login(django_user_model.objects.create_user("someone", password="pw-Secret-123"))
    for url in researcher_urls("s1"):
        assert client.get(url).status_code == 403


def test_login_page_logs_a_researcher_in_and_lands_on_the_study_list(client, django_user_model):
    django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert b"csrfmiddlewaretoken" in page.content
    response = client.post(reverse("login"), {"username": "res", "password": "pw-Secret-123"})
    assert response.status_code == 302
    assert response["Location"] == reverse("researcher-home")
    assert client.get(reverse("researcher-home")).status_code == 200


def test_unknown_study_is_a_404(staff_client):
    for url in researcher_urls("no-such-study")[1:]:
        assert staff_client.get(url).status_code == 404


def test_study_list_links_each_study_with_its_counts(staff_client, crafted):
    study, _ = crafted
    make_study("empty")
    response = staff_client.get(reverse("researcher-home"))
    assert response.status_code == 200
    rows = {row[0].slug: row[1:] for row in response.context["rows"]}
    assert rows == {"crafted": (8, 4), "empty": (0, 0)}
    assert reverse("researcher-dashboard", args=["crafted"]).encode() in response.content


def test_summary_counts_each_arm_on_a_crafted_study(crafted):
    study, now = crafted
    summary = summarize(study, now)
    figures = {
        arm.name: (
            arm.started,
            arm.completed,
            arm.active,
            arm.dropped,
            arm.withdrawn,
            arm.median_completion_s,
            arm.attention_failures,
        )
        for arm in summary.arms
    }
    assert figures == {
        "gradcam": (6, 3, 1, 1, 1, 30 * 60, 2),
        "pv": (2, 1, 0, 1, 0, 10 * 60, 0),
    }
    total = summary.total
    # Median of 20, 30, 40 and 10 minutes.
    assert (total.started, total.completed, total.dropped, total.median_completion_s) == (8, 4, 2, 25 * 60)
    assert total.attention_failures == 2


def test_an_arm_with_no_participants_shows_zeros():
    study = make_study("quiet")
    arms = summarize(study).arms
    assert [(a.name, a.started, a.median_completion_s, a.attention_failures) for a in arms] == [
        ("gradcam", 0, None, 0),
        ("pv", 0, None, 0),
    ]


def test_dashboard_page_shows_the_figures_and_download_links(staff_client, crafted):
    study, _ = crafted
    response = staff_client.get(reverse("researcher-dashboard", args=[study.slug]))
    assert response.status_code == 200
    assert [a.started for a in response.context["summary"].arms] == [6, 2]
    html = response.content.decode()
    assert "30.0 min" in html and "10.0 min" in html and "25.0 min" in html
    assert reverse("researcher-trials-csv", args=[study.slug]) in html
    assert reverse("researcher-participants-csv", args=[study.slug]) in html


@pytest.mark.parametrize("n_participants", [2, 40])
def test_dashboard_query_count_does_not_grow_with_participants(
    staff_client, django_assert_max_num_queries, n_participants
):
    study = make_study("many", n_correct=2, n_incorrect=1, n_attention=1)
    for i in range(n_participants):
        add_participant(study, ["gradcam", "pv"][i % 2], "completed", 30, 1, 1, [(0, "x"), (3, "y")])
    # Session, user, study, then: counts, attention failures, durations, arms, arms of the preview form;
    # the settings form: edit access, the arms' caps.
    with django_assert_max_num_queries(10):
        assert staff_client.get(reverse("researcher-dashboard", args=[study.slug])).status_code == 200


def test_researcher_urls_leave_the_gaze_and_gallery_pages_reachable():
    assert resolve("/r/gaze/dashboard/").url_name == "gaze-dataset"
    assert resolve("/r/gaze/").url_name == "gaze-list"
    assert resolve("/r/studies/gaze/").url_name == "researcher-dashboard"
    assert resolve("/r/gaze/trials.csv").url_name == "researcher-trials-csv"


def test_site_root_leads_to_the_researcher_pages(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/r/"
