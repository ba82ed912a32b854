"""Questionnaires: the JSON definition given to build_study, the rows it creates, and the forms that
check a participant's answers to one block.

Definition (a JSON object; every key not listed here is an error)::

    {"blocks": [
      {"placement": "before",                 # "before" (after the intro) or "after" the questions
       "title": "About you",                  # required, at most 200 characters
       "intro": "Optional text above the questions.",
       "demographics": ["age", "gender",      # built-in questions (DEMOGRAPHICS), optional to answer;
                        {"key": "age", "required": true, "min": 18, "max": 99}],  # or with overrides
       "questions": [                         # own questions, after the demographic ones
         {"key": "trust", "kind": "likert", "text": "I trusted the explanations.",
          "scale": 5, "anchors": ["Strongly disagree", "Strongly agree"], "required": true},
         {"key": "device", "kind": "single", "text": "Which device?", "options": ["Phone", "Computer"]},
         {"key": "tools", "kind": "multiple", "text": "Which tools have you used?", "options": ["A", "B"]},
         {"key": "hours", "kind": "number", "text": "Hours per week with AI tools", "min": 0, "max": 168},
         {"key": "comments", "kind": "text", "text": "Anything else?"}]}]}

`key` is the question's name in the exports (lower case, digits, `_`; unique in the study); `required`
defaults to false. A block needs at least one question. Errors name the field, e.g.
``blocks[1].questions[0].options: a single choice question needs 2 to 50 non-empty option texts``.
"""
import math
import re
from dataclasses import dataclass, field

from django import forms

from study.models import QuestionnaireBlock, QuestionnaireQuestion, Study
from study.models.questionnaire import MAX_CONFIDENCE_LEVELS, MAX_TEXT_CHARS, question_errors

KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")
MAX_BLOCKS = 20
MAX_QUESTIONS = 100
PREFER_NOT = "Prefer not to say"

# Built-in demographic questions; all optional to answer unless the definition makes them required.
DEMOGRAPHICS: dict[str, dict] = {
    "age": {"kind": "number", "text": "How old are you (in years)?", "min": 18, "max": 120},
    "gender": {"kind": "single", "text": "What is your gender?",
               "options": ["Woman", "Man", "Non-binary", "Another gender", PREFER_NOT]},
    "education": {"kind": "single", "text": "What is the highest level of education you have completed?",
                  "options": ["Secondary school or less", "Vocational training", "Bachelor's degree",
                              "Master's degree", "Doctorate", PREFER_NOT]},
    "ml_experience": {"kind": "likert", "text": "How familiar are you with machine learning?", "scale": 5,
                      "anchors": ["Not at all familiar", "Very familiar"]},
    "vision": {"kind": "single", "text": "Is your vision normal or corrected to normal (glasses, lenses)?",
               "options": ["Yes", "No", PREFER_NOT]},
}
QUESTION_KEYS = {"key", "kind", "text", "options", "min", "max", "scale", "anchors", "required"}
BLOCK_KEYS = {"placement", "title", "intro", "demographics", "questions"}


class QuestionnaireError(ValueError):
    """An invalid questionnaire definition; the message names the field."""


@dataclass(frozen=True)
class QuestionSpec:
    key: str
    kind: str
    text: str
    options: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    scale_points: int | None = None
    low_label: str = ""
    high_label: str = ""
    required: bool = False


@dataclass(frozen=True)
class BlockSpec:
    placement: str
    title: str
    intro: str = ""
    questions: tuple[QuestionSpec, ...] = field(default_factory=tuple)


def parse_questionnaire(document: object) -> list[BlockSpec]:
    """The blocks of a questionnaire definition (the module docstring's format); QuestionnaireError naming
    the field otherwise. None or {} means no questionnaire."""
    if document is None or document == {}:
        return []
    if not isinstance(document, dict):
        raise QuestionnaireError("questionnaire: must be a JSON object with a \"blocks\" list")
    _no_unknown(document, {"blocks"}, "questionnaire")
    blocks = document.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= MAX_BLOCKS:
        raise QuestionnaireError(f"blocks: must be a list of 1 to {MAX_BLOCKS} blocks")
    parsed = [_block(block, f"blocks[{i}]") for i, block in enumerate(blocks)]
    seen: dict[str, str] = {}
    for i, block in enumerate(parsed):
        for question in block.questions:
            if question.key in seen:
                raise QuestionnaireError(f"blocks[{i}]: question key {question.key!r} is used twice "
                                         f"(also in {seen[question.key]})")
            seen[question.key] = f"blocks[{i}]"
    if len(seen) > MAX_QUESTIONS:
        raise QuestionnaireError(f"blocks: at most {MAX_QUESTIONS} questions in all, got {len(seen)}")
    return parsed


def _no_unknown(mapping: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise QuestionnaireError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _text(mapping: dict, key: str, where: str, limit: int, required: bool = False) -> str:
    value = mapping.get(key, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        need = "a non-empty text" if required else "a text"
        raise QuestionnaireError(f"{where}.{key}: must be {need} of at most {limit} characters")
    return value.strip()


def _block(block: object, where: str) -> BlockSpec:
    if not isinstance(block, dict):
        raise QuestionnaireError(f"{where}: must be an object")
    _no_unknown(block, BLOCK_KEYS, where)
    placement = block.get("placement")
    if placement not in QuestionnaireBlock.Placement.values:
        raise QuestionnaireError(f"{where}.placement: must be \"before\" or \"after\", got {placement!r}")
    demographics = block.get("demographics", [])
    questions = block.get("questions", [])
    if not isinstance(demographics, list):
        raise QuestionnaireError(f"{where}.demographics: must be a list of names from {sorted(DEMOGRAPHICS)}")
    if not isinstance(questions, list):
        raise QuestionnaireError(f"{where}.questions: must be a list of questions")
    specs = [_demographic(entry, f"{where}.demographics[{i}]") for i, entry in enumerate(demographics)]
    specs += [_question(entry, f"{where}.questions[{i}]") for i, entry in enumerate(questions)]
    if not specs:
        raise QuestionnaireError(f"{where}: a block needs at least one question or demographic")
    return BlockSpec(placement, _text(block, "title", where, 200, required=True),
                     _text(block, "intro", where, 5000), tuple(specs))


def _demographic(entry: object, where: str) -> QuestionSpec:
    overrides = {"key": entry} if isinstance(entry, str) else entry
    if not isinstance(overrides, dict) or overrides.get("key") not in DEMOGRAPHICS:
        raise QuestionnaireError(f"{where}: must name a built-in question, one of {sorted(DEMOGRAPHICS)} "
                                 "(a name, or an object with \"key\" and overrides such as \"required\")")
    return _question(DEMOGRAPHICS[overrides["key"]] | overrides, where)


def _number(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise QuestionnaireError(f"{where}: must be a number, got {value!r}")
    return float(value)


def _question(question: object, where: str) -> QuestionSpec:
    if not isinstance(question, dict):
        raise QuestionnaireError(f"{where}: must be an object")
    _no_unknown(question, QUESTION_KEYS, where)
    key = question.get("key")
    if not isinstance(key, str) or not KEY_RE.fullmatch(key):
        raise QuestionnaireError(f"{where}.key: must be 1-50 lower-case letters, digits or _, "
                                 f"starting with a letter; got {key!r}")
    kind = question.get("kind")
    if kind not in QuestionnaireQuestion.Kind.values:
        raise QuestionnaireError(
            f"{where}.kind: must be one of {QuestionnaireQuestion.Kind.values}, got {kind!r}")
    required = question.get("required", False)
    if not isinstance(required, bool):
        raise QuestionnaireError(f"{where}.required: must be true or false")
    scale = question.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int)):
        raise QuestionnaireError(f"{where}.scale: must be a whole number")
    anchors = question.get("anchors", ["", ""])
    if (kind != "likert" and "anchors" in question) or not (
            isinstance(anchors, list) and len(anchors) == 2
            and all(isinstance(a, str) and len(a) <= 100 for a in anchors)):
        raise QuestionnaireError(f"{where}.anchors: a Likert question may have two labels (first and last "
                                 "point) of at most 100 characters; other kinds none")
    options = question.get("options", [])
    spec = QuestionSpec(key=key, kind=kind, text=_text(question, "text", where, 500, required=True),
                        options=tuple(options) if isinstance(options, list) else options,
                        min_value=_number(question.get("min"), f"{where}.min"),
                        max_value=_number(question.get("max"), f"{where}.max"),
                        scale_points=scale, low_label=anchors[0], high_label=anchors[1], required=required)
    errors = question_errors(kind, list(spec.options) if isinstance(options, list) else options,
                             spec.min_value, spec.max_value, spec.scale_points)
    if errors:
        names = {"options": "options", "scale_points": "scale", "min_value": "min", "max_value": "max"}
        name, message = next(iter(errors.items()))
        raise QuestionnaireError(f"{where}.{names[name]}: {message}")
    return spec


def check_confidence_rating(levels: int) -> None:
    """QuestionnaireError unless `levels` is 0 (no rating) or a scale 1..N with 2 <= N <= 10."""
    if isinstance(levels, bool) or not isinstance(levels, int) or not (
            levels == 0 or 2 <= levels <= MAX_CONFIDENCE_LEVELS):
        raise QuestionnaireError(f"confidence_rating: must be 0 (none) or 2 to {MAX_CONFIDENCE_LEVELS} "
                                 f"levels, got {levels!r}")


def create_blocks(study: Study, blocks: list[BlockSpec]) -> None:
    """Create the rows of parsed blocks for `study` (call inside the build's transaction)."""
    positions = {"before": 0, "after": 0}
    for spec in blocks:
        block = QuestionnaireBlock.objects.create(study=study, placement=spec.placement,
                                                  position=positions[spec.placement], title=spec.title,
                                                  intro=spec.intro)
        positions[spec.placement] += 1
        QuestionnaireQuestion.objects.bulk_create(
            QuestionnaireQuestion(block=block, position=i, key=q.key, kind=q.kind, text=q.text,
                                  options=list(q.options), min_value=q.min_value, max_value=q.max_value,
                                  scale_points=q.scale_points, low_label=q.low_label, high_label=q.high_label,
                                  required=q.required)
            for i, q in enumerate(spec.questions))


# ---------------------------------------------------------------- a participant's answers to a block


def field_name(question: QuestionnaireQuestion) -> str:
    return f"q{question.pk}"


def form_field(question: QuestionnaireQuestion) -> forms.Field:
    """The form field that checks an answer to `question` on the server (range, choices, required)."""
    common = {"label": question.text, "required": question.required}
    kind = question.kind
    if kind == "number":
        return forms.FloatField(min_value=question.min_value, max_value=question.max_value, **common)
    if kind == "likert":
        points = [(n, str(n)) for n in range(1, question.scale_points + 1)]
        return forms.TypedChoiceField(choices=points, coerce=int, empty_value=None,
                                      widget=forms.RadioSelect, **common)
    choices = [(option, option) for option in question.options]
    if kind == "single":
        return forms.ChoiceField(choices=choices, widget=forms.RadioSelect, **common)
    if kind == "multiple":
        return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
    return forms.CharField(max_length=MAX_TEXT_CHARS, widget=forms.Textarea(attrs={"rows": 3}), **common)


class BlockForm(forms.Form):
    """The answers to one block's questions; fields named q<question pk>, each with its `question`."""

    def __init__(self, block: QuestionnaireBlock, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.block = block
        self.questions = list(block.questions.all())
        for question in self.questions:
            self.fields[field_name(question)] = form_field(question)
            self.fields[field_name(question)].question = question

    def values(self) -> dict[int, object]:
        """The cleaned answer per question pk (None for an optional question left empty); after is_valid()."""
        values = {}
        for question in self.questions:
            value = self.cleaned_data.get(field_name(question))
            if value in ("", [], None):
                value = None
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            values[question.pk] = value
        return values
