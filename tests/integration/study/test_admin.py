"""The admin loads for a superuser: every changelist, and the pages of one row of each study model."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from study.models import Participant, RecruitmentRecord, Trial
from tests.factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_site_client(client, django_user_model):
    client.force_login(
        django_user_model.objects.create_superuser("boss", "boss@example.org", "pw-Secret-123")
    )
    return client


def add_answers(study, n_participants):
    items = list(study.items.all())
    now = timezone.now()
    for i in range(n_participants):
        participant = Participant.objects.create(study=study, arm=study.arms.all()[i % 2])
        RecruitmentRecord.objects.create(participant=participant, params={"PROLIFIC_PID": f"pid{i}"})
        for place, item in enumerate(items):
            Trial.objects.create(
                participant=participant,
                item=item,
                presented_position=place,
                presented_options=item.options,
                chosen_option=item.options[0],
                correct_guess=True,
                rt_ms=800,
                shown_at=now - timedelta(seconds=5),
                answered_at=now,
            )


def test_every_changelist_loads(admin_site_client):
    add_answers(make_study("s1"), 2)
    assert admin.site._registry
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = admin_site_client.get(url)
        assert response.status_code == 200, url


@pytest.mark.parametrize("model", ["study", "item", "participant", "trial", "recruitmentrecord"])
def test_the_page_of_a_row_loads(admin_site_client, model):
    add_answers(make_study("s1"), 1)
    model_class = next(m for m in admin.site._registry if m._meta.model_name == model)
    row = model_class.objects.first()
    response = admin_site_client.get(reverse(f"admin:study_{model}_change", args=[row.pk]))
    assert response.status_code == 200


def test_answers_cannot_be_added_or_edited_by_hand(admin_site_client):
    add_answers(make_study("s1"), 1)
    trial = Trial.objects.first()
    for model in ["trial", "participant", "recruitmentrecord"]:
        assert admin_site_client.get(reverse(f"admin:study_{model}_add")).status_code == 403
    url = reverse("admin:study_trial_change", args=[trial.pk])
    response = admin_site_client.post(url, {"chosen_option": "edited", "correct_guess": "False"})
    assert response.status_code == 403
    trial.refresh_from_db()
    assert trial.chosen_option != "edited"


@pytest.mark.parametrize("model", ["trial", "participant", "item"])
def test_changelist_query_count_does_not_grow_with_rows(
    admin_site_client, django_assert_max_num_queries, model
):
    study = make_study("s1")
    add_answers(study, 2)
    url = reverse(f"admin:study_{model}_changelist")
    with django_assert_max_num_queries(12) as few:
        admin_site_client.get(url)
    add_answers(make_study("s2"), 12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_site_client.get(url).status_code == 200


def test_a_researcher_adding_a_study_sees_no_other_user_and_owns_what_they_add(client, django_user_model):
    from django.contrib.auth.models import Permission

    from study.models import Study

    django_user_model.objects.create_user("someone-else", password="pw-Secret-123", is_staff=True)
    researcher = django_user_model.objects.create_user("adder", password="pw-Secret-123", is_staff=True)
    researcher.user_permissions.add(*Permission.objects.filter(codename__in=["add_study", "change_study",
                                                                             "view_study"]))
    client.force_login(researcher)
    page = client.get(reverse("admin:study_study_add"))
    assert page.status_code == 200 and b"someone-else" not in page.content
    assert b'name="owner"' not in page.content
    response = client.post(reverse("admin:study_study_add"), {
        "slug": "mine", "title": "Mine", "status": "draft", "assignment_policy": "round_robin",
        "question_order": "shuffled", "withdrawal_policy": "keep", "active_timeout_minutes": "30",
        "confidence_rating": "0", "new_participants_per_client_hour": "0", "completion_codes": "study",
        "attention_failures_to_fail": "2", "owner": str(django_user_model.objects.get(username="someone-else").pk),
        **{f"{prefix}-{key}": "0" for prefix in ("arms", "questionnaire_blocks", "shares")
           for key in ("TOTAL_FORMS", "INITIAL_FORMS")}})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Study.objects.get(slug="mine").owner == researcher
