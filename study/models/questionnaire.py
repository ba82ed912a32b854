"""Questionnaire blocks shown before or after the questions, their questions and the answers.

A block is done for a participant when every one of its questions has an answer row (an optional
question left empty gets a row with value None), so the flow needs no extra state.
"""
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from study.models.participant import Participant
from study.models.study import Study

MAX_CONFIDENCE_LEVELS = 10  # Study.confidence_rating: 0 (off) or a scale 1..N with 2 <= N <= 10
MAX_LIKERT_POINTS = 11
MAX_OPTIONS = 50
MAX_TEXT_CHARS = 2000  # a free-text answer


class QuestionnaireBlock(models.Model):
    class Placement(models.TextChoices):
        BEFORE = "before", "Before the questions (after the intro)"
        AFTER = "after", "After the questions"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="questionnaire_blocks")
    placement = models.CharField(max_length=6, choices=Placement.choices)
    position = models.PositiveSmallIntegerField(help_text="Order among the blocks of the same placement.")
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True, help_text="Plain text shown above the block's questions.")

    class Meta:
        ordering = ["study", "-placement", "position"]  # "before" sorts after "after": hence the minus
        constraints = [
            models.UniqueConstraint(fields=["study", "placement", "position"], name="block_unique_position"),
            models.CheckConstraint(condition=Q(placement__in=["before", "after"]),
                                   name="block_placement_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug} {self.placement} #{self.position}: {self.title}"


class QuestionnaireQuestion(models.Model):
    class Kind(models.TextChoices):
        LIKERT = "likert"
        SINGLE = "single", "Single choice"
        MULTIPLE = "multiple", "Multiple choice"
        TEXT = "text", "Free text"
        NUMBER = "number"

    block = models.ForeignKey(QuestionnaireBlock, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveSmallIntegerField()
    key = models.SlugField(max_length=50, help_text="Short name of the question in the exports, e.g. age.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.CharField(max_length=500)
    options = models.JSONField(default=list, blank=True, help_text="Single/multiple choice: the options.")
    min_value = models.FloatField(null=True, blank=True, help_text="Number: the smallest allowed answer.")
    max_value = models.FloatField(null=True, blank=True, help_text="Number: the largest allowed answer.")
    scale_points = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Likert: points 1..N.")
    low_label = models.CharField(max_length=100, blank=True, help_text="Likert: the label of point 1.")
    high_label = models.CharField(max_length=100, blank=True, help_text="Likert: the label of point N.")
    required = models.BooleanField(default=False)

    class Meta:
        ordering = ["block", "position"]
        constraints = [
            models.UniqueConstraint(fields=["block", "position"], name="question_unique_position"),
            models.UniqueConstraint(fields=["block", "key"], name="question_unique_key"),
            models.CheckConstraint(condition=Q(kind__in=["likert", "single", "multiple", "text", "number"]),
                                   name="question_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind="likert") | Q(scale_points__gte=2, scale_points__lte=MAX_LIKERT_POINTS),
                name="question_likert_has_scale"),
            models.CheckConstraint(
                condition=Q(min_value__isnull=True) | Q(max_value__isnull=True)
                | Q(min_value__lte=models.F("max_value")),
                name="question_min_le_max"),
        ]

    def __str__(self) -> str:
        return f"{self.block} / {self.key}"

    def clean(self) -> None:
        errors = question_errors(self.kind, self.options, self.min_value, self.max_value, self.scale_points)
        if errors:
            raise ValidationError(errors)


def question_errors(kind: str, options: object, min_value: float | None, max_value: float | None,
                    scale_points: int | None) -> dict[str, str]:
    """What is wrong with a question's definition, by field name (empty when it is valid)."""
    errors = {}
    if kind in ("single", "multiple"):
        if (not isinstance(options, list) or len(options) < 2 or len(options) > MAX_OPTIONS
                or not all(isinstance(o, str) and o.strip() and len(o) <= 200 for o in options)):
            errors["options"] = f"a {kind} choice question needs 2 to {MAX_OPTIONS} non-empty option texts"
        elif len(set(options)) != len(options):
            errors["options"] = "the options must be distinct"
    elif options:
        errors["options"] = f"a {kind} question takes no options"
    if kind == "likert" and not (isinstance(scale_points, int) and 2 <= scale_points <= MAX_LIKERT_POINTS):
        errors["scale_points"] = f"a Likert question needs a scale of 2 to {MAX_LIKERT_POINTS} points"
    if kind != "number" and (min_value is not None or max_value is not None):
        errors["min_value"] = "only number questions take min and max"
    if min_value is not None and max_value is not None and min_value > max_value:
        errors["max_value"] = f"max ({max_value}) is below min ({min_value})"
    return errors


class QuestionnaireAnswer(models.Model):
    """One participant's answer to one questionnaire question; `value` None when left empty.

    value: a number (number), an int 1..N (likert), an option (single), a list of options (multiple),
    a text (text).
    """

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE,
                                    related_name="questionnaire_answers")
    question = models.ForeignKey(QuestionnaireQuestion, on_delete=models.PROTECT, related_name="answers")
    value = models.JSONField(null=True, blank=True)
    answered_at = models.DateTimeField()

    class Meta:
        ordering = ["participant", "question"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "question"],
                                    name="answer_one_per_participant_question"),
        ]

    def __str__(self) -> str:
        return f"{self.participant} {self.question.key}"
