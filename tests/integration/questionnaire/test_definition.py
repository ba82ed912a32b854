"""The questionnaire definition: every mistake is refused with the field named; a valid one creates rows."""
import json

import pytest
from django.core.management import CommandError, call_command

from study.models import QuestionnaireBlock, QuestionnaireQuestion, Study
from study.survey.questionnaire import (
    DEMOGRAPHICS,
    QuestionnaireError,
    check_confidence_rating,
    parse_questionnaire,
)
from tests.integration.questionnaire.helpers import DEFINITION, make_questionnaire_study


def block(**fields) -> dict:
    return {"blocks": [{"placement": "after", "title": "T",
                        "questions": [{"key": "q", "kind": "text", "text": "Why?"}]} | fields]}


def question(**fields) -> dict:
    return {"blocks": [{"placement": "after", "title": "T",
                        "questions": [{"key": "q", "kind": "text", "text": "Why?"} | fields]}]}


@pytest.mark.parametrize("document, message", [
    ([], "questionnaire: must be a JSON object"),
    ({"blocks": []}, "blocks: must be a list of 1 to"),
    ({"blocks": [], "extra": 1}, r"questionnaire: unknown key\(s\) \['extra'\]"),
    (block(placement="during"), r"blocks\[0\].placement: must be \"before\" or \"after\""),
    (block(title=" "), r"blocks\[0\].title: must be a non-empty text"),
    (block(questions=[]), r"blocks\[0\]: a block needs at least one question"),
    (block(demographics=["shoe_size"]), r"blocks\[0\].demographics\[0\]: must name a built-in question"),
    (block(colour="red"), r"blocks\[0\]: unknown key\(s\) \['colour'\]"),
    (question(key="Bad Key"), r"blocks\[0\].questions\[0\].key: must be 1-50 lower-case"),
    (question(kind="slider"), r"blocks\[0\].questions\[0\].kind: must be one of"),
    (question(kind="single"), r"blocks\[0\].questions\[0\].options: a single choice question needs 2"),
    (question(kind="multiple", options=["a", "a"]), r"questions\[0\].options: the options must be distinct"),
    (question(kind="single", options=["a", 3]), r"questions\[0\].options: a single choice question needs"),
    (question(options=["a", "b"]), r"questions\[0\].options: a text question takes no options"),
    (question(kind="likert"), r"questions\[0\].scale: a Likert question needs a scale of 2 to 11"),
    (question(kind="likert", scale=12), r"questions\[0\].scale: a Likert question needs a scale"),
    (question(kind="likert", scale=5, anchors=["only one"]), r"questions\[0\].anchors: a Likert question"),
    (question(kind="number", min=10, max=1), r"questions\[0\].max: max \(1.0\) is below min \(10.0\)"),
    (question(kind="number", min="ten"), r"questions\[0\].min: must be a number, got 'ten'"),
    (question(min=1), r"questions\[0\].min: only number questions take min and max"),
    (question(required="yes"), r"questions\[0\].required: must be true or false"),
    (question(text=""), r"questions\[0\].text: must be a non-empty text"),
    ({"blocks": [block()["blocks"][0], block()["blocks"][0]]},
     r"blocks\[1\]: question key 'q' is used twice"),
])
def test_invalid_definitions_are_refused_with_the_field_named(document, message):
    with pytest.raises(QuestionnaireError, match=message):
        parse_questionnaire(document)


@pytest.mark.parametrize("levels", [1, 11, -1, True, "5"])
def test_confidence_rating_must_be_off_or_2_to_10_levels(levels):
    with pytest.raises(QuestionnaireError, match="confidence_rating: must be 0"):
        check_confidence_rating(levels)


def test_demographics_expand_to_the_built_in_questions_with_overrides():
    blocks = parse_questionnaire(DEFINITION)
    age, gender = blocks[0].questions
    assert (age.key, age.kind, age.min_value, age.max_value, age.required) == ("age", "number", 18, 120, True)
    assert gender.options == tuple(DEMOGRAPHICS["gender"]["options"]) and not gender.required
    assert "Prefer not to say" in gender.options
    trust = blocks[1].questions[0]
    assert (trust.scale_points, trust.low_label, trust.high_label) == (
        5, "Strongly disagree", "Strongly agree")


@pytest.mark.django_db
def test_create_blocks_writes_the_blocks_in_order():
    study = make_questionnaire_study()
    blocks = list(study.questionnaire_blocks.order_by("-placement", "position"))
    assert [(b.placement, b.position, b.title) for b in blocks] == [("before", 0, "About you"),
                                                                   ("after", 0, "Your view")]
    keys = [(q.block.placement, q.position, q.key, q.kind, q.required)
            for q in QuestionnaireQuestion.objects.order_by("-block__placement", "position")]
    assert keys == [("before", 0, "age", "number", True), ("before", 1, "gender", "single", False),
                    ("after", 0, "trust", "likert", True), ("after", 1, "tools", "multiple", False),
                    ("after", 2, "comments", "text", False)]


@pytest.mark.django_db
@pytest.mark.parametrize("content, message", [
    ("{not json", "--questionnaire .*q.json: not valid JSON"),
    (json.dumps(question(kind="number", min=5, max=1)),
     r"--questionnaire .*q.json: blocks\[0\].questions\[0\].max"),
])
def test_build_study_command_refuses_a_bad_questionnaire_file_and_creates_nothing(tmp_path, content, message):
    path = tmp_path / "q.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("build_study", "s1", "--model", "efficientnet-lite0", "--dataset", str(tmp_path),
                     "--questionnaire", str(path))
    assert not Study.objects.exists() and not QuestionnaireBlock.objects.exists()


@pytest.mark.django_db
def test_build_study_command_refuses_a_missing_file_and_a_bad_confidence_rating(tmp_path):
    with pytest.raises(CommandError, match="--questionnaire .*missing.json: cannot read the file"):
        call_command("build_study", "s1", "--model", "m", "--dataset", str(tmp_path),
                     "--questionnaire", str(tmp_path / "missing.json"))
    with pytest.raises(CommandError, match="--confidence-rating: confidence_rating: must be 0"):
        call_command("build_study", "s1", "--model", "m", "--dataset", str(tmp_path),
                     "--confidence-rating", "11")
    assert not Study.objects.exists()
