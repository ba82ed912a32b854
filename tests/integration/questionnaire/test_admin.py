"""Questionnaires in the admin: a block's page edits its questions (validated like the JSON definition);
a researcher sees and edits only the blocks of their own studies, and puts new ones only there."""
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from study.models import QuestionnaireBlock, QuestionnaireQuestion
from study.survey.questionnaire import parse_questionnaire
from tests.integration.questionnaire.helpers import make_questionnaire_study

pytestmark = pytest.mark.django_db


def researcher(django_user_model, client, name):
    user = django_user_model.objects.create_user(name, password="pw-Secret-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__endswith="questionnaireblock"),
                              *Permission.objects.filter(codename__endswith="questionnairequestion"))
    client.force_login(user)
    return user


def test_the_readme_example_is_a_valid_definition():
    import json

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    example = re.search(r"```json\n(.*?)```", readme, re.S).group(1)
    assert [len(b.questions) for b in parse_questionnaire(json.loads(example))] == [3, 5]


def test_researchers_see_and_use_only_their_own_studies(client, django_user_model):
    mine, theirs = make_questionnaire_study("mine"), make_questionnaire_study("theirs")
    me = researcher(django_user_model, client, "me")
    mine.owner = me
    mine.save()
    listing = client.get(reverse("admin:study_questionnaireblock_changelist")).content.decode()
    foreign = theirs.questionnaire_blocks.first()
    for block in QuestionnaireBlock.objects.all():
        link = reverse("admin:study_questionnaireblock_change", args=[block.pk])
        assert (link in listing) == (block.study == mine)
    assert client.get(reverse("admin:study_questionnaireblock_change", args=[foreign.pk])).status_code == 302
    add = client.get(reverse("admin:study_questionnaireblock_add"))
    choices = re.findall(r'<option value="(\d+)"', add.content.decode())
    assert choices == [str(mine.pk)]
    response = client.post(reverse("admin:study_questionnaireblock_add"), {
        "study": theirs.pk, "placement": "after", "position": 5, "title": "Sneaky",
        "questions-TOTAL_FORMS": 0, "questions-INITIAL_FORMS": 0})
    assert response.status_code == 200 and not QuestionnaireBlock.objects.filter(title="Sneaky").exists()


def test_an_invalid_question_is_refused_in_the_admin(client, django_user_model):
    study = make_questionnaire_study()
    me = researcher(django_user_model, client, "me")
    study.owner = me
    study.save()
    response = client.post(reverse("admin:study_questionnaireblock_add"), {
        "study": study.pk, "placement": "after", "position": 3, "title": "More",
        "questions-TOTAL_FORMS": 1, "questions-INITIAL_FORMS": 0,
        "questions-0-position": 0, "questions-0-key": "pick", "questions-0-kind": "single",
        "questions-0-text": "Pick one", "questions-0-options": '["only one"]'})
    assert response.status_code == 200
    assert "a single choice question needs 2 to 50" in response.content.decode()
    assert not QuestionnaireBlock.objects.filter(title="More").exists()
    response = client.post(reverse("admin:study_questionnaireblock_add"), {
        "study": study.pk, "placement": "after", "position": 3, "title": "More",
        "questions-TOTAL_FORMS": 1, "questions-INITIAL_FORMS": 0,
        "questions-0-position": 0, "questions-0-key": "pick", "questions-0-kind": "single",
        "questions-0-text": "Pick one", "questions-0-options": '["a", "b"]'})
    assert response.status_code == 302
    assert QuestionnaireQuestion.objects.get(key="pick").options == ["a", "b"]
