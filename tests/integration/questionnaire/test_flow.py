"""Questionnaire blocks and the confidence rating in the participant flow: the server's page order,
server-side validation, and refresh/back/double-submit safety."""
import pytest

from study.models import Participant, QuestionnaireAnswer, QuestionnaireBlock, Trial
from tests.integration.questionnaire.helpers import make_questionnaire_study
from tests.integration.study.participant_helpers import consent

pytestmark = pytest.mark.django_db

TEMPLATE = "survey/{}.html"


def page_of(client, participant) -> tuple[str, object]:
    response = client.get(f"/p/{participant.token}/")
    assert response.status_code == 200
    names = [t.name for t in response.templates]
    kind = next(k for k in ("intro", "question", "block", "complete") if TEMPLATE.format(k) in names)
    return kind, response


def block_form(block: QuestionnaireBlock, **answers) -> dict:
    """POST data for a block: answers by question key (lists for multiple choice)."""
    by_key = {q.key: f"q{q.pk}" for q in block.questions.all()}
    return {by_key[key]: value for key, value in answers.items()}


def post_block(client, participant, block, **answers):
    return client.post(f"/p/{participant.token}/block/{block.pk}/", block_form(block, **answers))


def answer(client, participant, trial, confidence="3"):
    data = {"trial": trial.pk, "option": trial.presented_options[0], "rt_ms": 900}
    if confidence is not None:
        data["confidence"] = confidence
    return client.post(f"/p/{participant.token}/answer/", data)


def test_pages_come_in_order_and_every_write_is_idempotent(client):
    study = make_questionnaire_study()
    before = study.questionnaire_blocks.get(placement="before")
    after = study.questionnaire_blocks.get(placement="after")
    participant = consent(client)
    assert page_of(client, participant)[0] == "intro"
    # A block not reached yet is refused; nothing is written.
    assert post_block(client, participant, before, age="30").status_code == 409
    client.post(f"/p/{participant.token}/intro/")
    kind, response = page_of(client, participant)
    assert kind == "block" and response.context["page"].block == before
    assert "About you" in response.content.decode() and "Prefer not to say" in response.content.decode()
    # The questions wait for the block: a question's answer is refused, the after-block too.
    trial = participant.trials.get(presented_position=0)
    assert answer(client, participant, trial).status_code == 409
    assert post_block(client, participant, after, trust="4").status_code == 409
    assert not QuestionnaireAnswer.objects.exists()

    assert post_block(client, participant, before, age="34", gender="Prefer not to say").status_code == 302
    saved = dict(QuestionnaireAnswer.objects.values_list("question__key", "value"))
    assert saved == {"age": 34, "gender": "Prefer not to say"}
    # Back button and double submit: the same block again changes nothing.
    assert post_block(client, participant, before, age="50", gender="Man").status_code == 302
    assert dict(QuestionnaireAnswer.objects.values_list("question__key", "value")) == saved

    for number in range(1, participant.trials.count() + 1):
        kind, response = page_of(client, participant)
        assert kind == "question" and response.context["page"].number == number
        assert 'name="confidence"' in response.content.decode()
        trial = response.context["page"].trial
        assert answer(client, participant, trial, confidence=str(1 + number % 5)).status_code == 302
        assert answer(client, participant, trial, confidence="1").status_code == 302  # double submit
    confidences = list(Trial.objects.filter(participant=participant).order_by("presented_position")
                       .values_list("confidence", flat=True))
    assert confidences == [1 + n % 5 for n in range(1, len(confidences) + 1)]
    # The last answer does not complete: the after-block comes first.
    participant.refresh_from_db()
    assert participant.status == Participant.Status.ACTIVE
    kind, response = page_of(client, participant)
    assert kind == "block" and response.context["page"].block == after
    assert "Strongly disagree" in response.content.decode()

    assert post_block(client, participant, after, trust="4", tools=["ChatGPT", "None"]).status_code == 302
    participant.refresh_from_db()
    assert participant.status == Participant.Status.COMPLETED and participant.completion_code
    code = participant.completion_code
    assert post_block(client, participant, after, trust="1").status_code == 302
    participant.refresh_from_db()
    assert participant.completion_code == code
    assert page_of(client, participant)[0] == "complete"
    rows = dict(QuestionnaireAnswer.objects.filter(question__block=after)
                .values_list("question__key", "value"))
    assert rows == {"trust": 4, "tools": ["ChatGPT", "None"], "comments": None}


@pytest.mark.parametrize("answers, errors", [
    ({"gender": "Woman"}, {"age": "This field is required."}),
    ({"age": "12"}, {"age": "Ensure this value is greater than or equal to 18"}),
    ({"age": "121"}, {"age": "Ensure this value is less than or equal to 120"}),
    ({"age": "thirty"}, {"age": "Enter a number."}),
    ({"age": "30", "gender": "Robot"}, {"gender": "Select a valid choice"}),
])
def test_invalid_block_answers_reshow_the_block_with_messages_and_save_nothing(client, answers, errors):
    study = make_questionnaire_study()
    before = study.questionnaire_blocks.get(placement="before")
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    response = post_block(client, participant, before, **answers)
    assert response.status_code == 200
    assert "survey/block.html" in [t.name for t in response.templates]
    form = response.context["form"]
    shown = {field.question.key: " ".join(form.errors.get(name, [])) for name, field in form.fields.items()}
    for key, message in errors.items():
        assert message in shown[key]
        assert message.split(" (")[0] in response.content.decode().replace("&#x27;", "'")
    assert not QuestionnaireAnswer.objects.exists()
    assert page_of(client, participant)[1].context["page"].block == before


def test_after_block_validation_likert_range_and_multiple_choices(client):
    study = make_questionnaire_study(confidence_rating=0, definition={"blocks": [
        {"placement": "after", "title": "End", "questions": [
            {"key": "trust", "kind": "likert", "text": "T", "scale": 5, "required": True},
            {"key": "tools", "kind": "multiple", "text": "M", "options": ["a", "b"]},
            {"key": "hours", "kind": "number", "text": "H", "min": 0, "max": 10}]}]})
    after = study.questionnaire_blocks.get()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(participant.trials.count()):
        trial = page_of(client, participant)[1].context["page"].trial
        assert answer(client, participant, trial, confidence=None).status_code == 302
    bad_answers = [{"trust": "6"}, {"trust": "0"}, {"trust": "3", "tools": ["a", "c"]},
                   {"trust": "3", "hours": "11"}]
    for bad in bad_answers:
        assert post_block(client, participant, after, **bad).context["form"].errors
    assert not QuestionnaireAnswer.objects.exists()
    assert post_block(client, participant, after, trust="5", hours="2.5").status_code == 302
    assert dict(QuestionnaireAnswer.objects.values_list("question__key", "value")) == {
        "trust": 5, "tools": None, "hours": 2.5}


def test_confidence_is_required_in_range_and_refused_when_not_asked(client):
    make_questionnaire_study(confidence_rating=4, definition=None)
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    trial = page_of(client, participant)[1].context["page"].trial
    for bad in (None, "0", "5", "x"):
        assert answer(client, participant, trial, confidence=bad).status_code == 400
    assert Trial.objects.get(pk=trial.pk).answered_at is None
    assert answer(client, participant, trial, confidence="4").status_code == 302
    assert Trial.objects.get(pk=trial.pk).confidence == 4

    make_questionnaire_study("s2", confidence_rating=0, definition=None)
    other = consent(client, "s2")
    client.post(f"/p/{other.token}/intro/")
    kind, response = page_of(client, other)
    assert 'name="confidence"' not in response.content.decode()
    trial = response.context["page"].trial
    assert answer(client, other, trial, confidence="3").status_code == 400
    assert answer(client, other, trial, confidence=None).status_code == 302
    assert Trial.objects.get(pk=trial.pk).confidence is None


def test_a_block_of_another_study_is_not_found(client):
    make_questionnaire_study()
    other = make_questionnaire_study("s2")
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    foreign = other.questionnaire_blocks.get(placement="before")
    assert post_block(client, participant, foreign, age="30").status_code == 404
    assert client.post(f"/p/{participant.token}/block/999999/", {}).status_code == 404


def test_a_participant_whose_last_block_was_deleted_is_completed(client):
    study = make_questionnaire_study(definition={"blocks": [
        {"placement": "after", "title": "End", "questions": [{"key": "x", "kind": "text", "text": "?"}]}]})
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    for _ in range(participant.trials.count()):
        trial = page_of(client, participant)[1].context["page"].trial
        assert answer(client, participant, trial).status_code == 302
    assert page_of(client, participant)[0] == "block"
    study.questionnaire_blocks.all().delete()  # the researcher removes it in the admin
    kind, response = page_of(client, participant)
    participant.refresh_from_db()
    assert kind == "complete" and participant.status == Participant.Status.COMPLETED
    assert participant.completion_code in response.content.decode()


def test_a_block_placed_before_the_questions_is_not_asked_after_the_first_answer(client):
    study = make_questionnaire_study(definition={"blocks": [
        {"placement": "before", "title": "Start", "questions": [{"key": "x", "kind": "text", "text": "?"}]}]})
    before = study.questionnaire_blocks.get()
    participant = consent(client)
    client.post(f"/p/{participant.token}/intro/")
    assert post_block(client, participant, before, x="yes").status_code == 302
    trial = page_of(client, participant)[1].context["page"].trial
    assert answer(client, participant, trial).status_code == 302
    # The researcher adds a question to the block in the admin: a participant past the first question
    # goes on with the questions and is not sent back to it.
    before.questions.create(position=2, key="y", kind="text", text="And?")
    kind, response = page_of(client, participant)
    assert kind == "question" and response.context["page"].number == 2
    assert post_block(client, participant, before, y="late").status_code == 409
    assert not QuestionnaireAnswer.objects.filter(question__key="y").exists()
