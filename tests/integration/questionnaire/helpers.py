"""A small study with a confidence rating and questionnaire blocks before and after the questions."""
from study.models import Study
from study.survey.questionnaire import create_blocks, parse_questionnaire
from tests.factories import make_study

DEFINITION = {"blocks": [
    {"placement": "before", "title": "About you", "intro": "A few questions first.",
     "demographics": [{"key": "age", "required": True}, "gender"]},
    {"placement": "after", "title": "Your view", "questions": [
        {"key": "trust", "kind": "likert", "text": "I trusted the explanations.", "scale": 5,
         "anchors": ["Strongly disagree", "Strongly agree"], "required": True},
        {"key": "tools", "kind": "multiple", "text": "Which tools have you used?",
         "options": ["ChatGPT", "Copilot", "None"]},
        {"key": "comments", "kind": "text", "text": "Anything else?"},
    ]},
]}


def make_questionnaire_study(slug: str = "s1", confidence_rating: int = 5, definition: dict = DEFINITION,
                             **fields) -> Study:
    study = make_study(slug, confidence_rating=confidence_rating, **fields)
    create_blocks(study, parse_questionnaire(definition))
    return study
