"""Participants and their trials (one per participant and item, and one more per item of a BubbleView block
before the questions)."""
import secrets

from django.db import models
from django.db.models import Q

from study.models.study import Arm, Item, Study


def new_token() -> str:
    """An opaque, unguessable participant token (32 URL-safe characters)."""
    return secrets.token_urlsafe(24)


def new_seed() -> int:
    """A random 62-bit seed for the participant's shuffles."""
    return secrets.randbits(62)


class Participant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        COMPLETED = "completed"
        WITHDRAWN = "withdrawn"

    class Outcome(models.TextChoices):
        """How a participant who finished ended, as the recruitment platform is told (with its code)."""
        NONE = "", "Not finished"
        COMPLETED = "completed"
        FAILED_ATTENTION = "failed_attention", "Failed attention checks"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="participants")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    seed = models.BigIntegerField(default=new_seed, editable=False)
    consented_at = models.DateTimeField(auto_now_add=True)
    intro_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completion_code = models.CharField(max_length=40, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, default=Outcome.NONE)
    # The one-time key of the consent form that created this participant: a resubmitted form finds them again.
    consent_key = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    # A staff member trying the study: counted nowhere (dashboards, exports, assignment).
    is_preview = models.BooleanField(default=False)
    # The recruitment platform's id of the person ("prolific:<PROLIFIC_PID>", "mturk:<workerId>",
    # "label:<participant_label>"), "" without one: one participant per person and study.
    external_id = models.CharField(max_length=220, blank=True, default="", editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status="completed", completed_at__isnull=False) | ~Q(status="completed"),
                name="participant_completed_has_time",
            ),
            models.UniqueConstraint(fields=["study", "external_id"], condition=~Q(external_id=""),
                                    name="participant_unique_external_id"),
        ]
        indexes = [models.Index(fields=["study", "arm", "status"])]

    def __str__(self) -> str:
        return f"{self.study.slug}:{self.pk}"


class RecruitmentRecord(models.Model):
    """Recruitment-platform parameters (e.g. PROLIFIC_PID), kept apart from the answers."""

    participant = models.OneToOneField(Participant, on_delete=models.CASCADE, related_name="recruitment")
    params = models.JSONField(default=dict)
    # Every SESSION_ID the person came with, in order (the first is params["SESSION_ID"]).
    session_ids = models.JSONField(default=list)


class Trial(models.Model):
    """One question as one participant saw it, and their answer once given."""

    class Block(models.TextChoices):
        QUESTIONS = "", "The study design's question"
        ATTENTION = "attention", "BubbleView clicks on the image, before the questions"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="trials")
    presented_position = models.PositiveIntegerField(help_text="0-based place of the question for this participant.")
    presented_options = models.JSONField(help_text="The item's options in the order shown.")
    chosen_option = models.CharField(max_length=200, blank=True)
    correct_guess = models.BooleanField(null=True)
    rt_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Client-measured response time.")
    shown_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # The confidence rating given with the answer (1..Study.confidence_rating), when the study asks for one.
    confidence = models.PositiveSmallIntegerField(null=True, blank=True)
    # The design's part of the answer (study.survey.designs), e.g. {"agreement": 3, "judged_correct": true}.
    details = models.JSONField(default=dict, blank=True)
    # Which part of the study the trial belongs to: its design's questions, or the attention block before
    # them (Study.attention_block; scored by the attention design).
    block = models.CharField(max_length=10, choices=Block.choices, blank=True, default=Block.QUESTIONS)

    class Meta:
        ordering = ["participant", "presented_position"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "item", "block"],
                                    name="trial_one_per_participant_item_block"),
            models.UniqueConstraint(fields=["participant", "presented_position"], name="trial_unique_position"),
            # An answer has a chosen option; correct_guess is empty for a trial that asks no question (a
            # training image, clicks on an image), and set for every other answer (study.survey.designs).
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True, chosen_option="", correct_guess__isnull=True)
                | (Q(answered_at__isnull=False) & ~Q(chosen_option="")),
                name="trial_answer_has_option_or_is_empty",
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True)
                | Q(answered_at__isnull=False, confidence__gte=1, confidence__lte=10),
                name="trial_confidence_with_answer_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.participant} q{self.presented_position}"
