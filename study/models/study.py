"""A study, its arms (one explanation technique each, or CONTROL: none) and its items (questions).

The option set of a question lives on the Item, once, so it is the same in every arm by
construction; an arm only adds its own explanation image (Stimulus) of the item. A control arm adds
none: its participants see the item's image alone.
"""
from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from study.models.html import SanitizedHTMLField

CANT_TELL = "I just can't tell"
# The technique of a control arm: no explanation (the item's image alone, and no Stimulus rows). Not an
# explainer method: explainers.METHODS never holds it.
CONTROL = "none"
# A recruitment platform's completion code as typed into a URL (Prolific's look like C1ABCDEF).
platform_code = RegexValidator(r"^[A-Za-z0-9_-]+$",
                               "Letters, digits, - and _ only, as the platform shows it.")


class Study(models.Model):
    class Design(models.TextChoices):
        SIMULATION = "simulation", "Simulation: guess the model's prediction among options (the PV paper)"
        AGREEMENT = "agreement", "Agreement: is the model's prediction correct? (HIVE)"
        DISTINCTION = "distinction", "Distinction: which of k explanations is the predicted class's? (HIVE)"
        ATTENTION = "attention", "Attention: click to reveal a blurred image, bubble by bubble (BubbleView)"
        LEARN_PREDICT = "learn_predict", ("Learn, then predict: rounds of learning the model, then predicting "
                                          "it (Colin et al.)")

    class Status(models.TextChoices):
        DRAFT = "draft"
        OPEN = "open"
        PAUSED = "paused", "Paused (no new participants; started ones finish)"
        CLOSED = "closed"

    class Assignment(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Strict round-robin on consent"
        BALANCED = "balanced", "Balanced on completed and recently active participants"

    class WithdrawalPolicy(models.TextChoices):
        KEEP = "keep", "Keep the answers, flagged withdrawn"
        DELETE = "delete", "Delete the answers"

    class QuestionOrder(models.TextChoices):
        FIXED = "fixed"
        SHUFFLED = "shuffled", "Shuffled per participant"

    class CompletionCodes(models.TextChoices):
        STUDY = "study", "The study's codes, one per outcome, copied from the platform (Prolific)"
        PARTICIPANT = "participant", "A random code for each participant (e.g. MTurk)"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    consent_text = SanitizedHTMLField(
        blank=True,
        help_text="HTML (sanitised on save), shown as it is; the study page writes it from Markdown.")
    # The Markdown the consent text was made from on the study's settings form (empty: written as HTML).
    consent_markdown = models.TextField(blank=True)
    # No owner: only superusers see the study. See study.access for sharing.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # What a trial shows and asks (study.survey.designs); fixed when the study is built.
    design = models.CharField(max_length=20, choices=Design.choices, default=Design.SIMULATION, editable=False)
    # The design's settings as built, e.g. {"k": 4, "show_labels": false} (study.survey.designs).
    design_options = models.JSONField(default=dict, blank=True, editable=False)
    # The attention design's options of a BubbleView block on every image before the questions ({}: none).
    attention_block = models.JSONField(default=dict, blank=True, editable=False)
    assignment_policy = models.CharField(max_length=20, choices=Assignment.choices, default=Assignment.ROUND_ROBIN)
    question_order = models.CharField(max_length=10, choices=QuestionOrder.choices, default=QuestionOrder.SHUFFLED)
    completion_redirect_url = models.URLField(blank=True)
    # Which completion code a finishing participant gets (the "screened out" code is the study's either way).
    completion_codes = models.CharField(
        max_length=12, choices=CompletionCodes.choices, default=CompletionCodes.PARTICIPANT,
        help_text="Study codes: Prolific gives one code per outcome; copy them below. Random codes: for "
                  "platforms that check a code per worker (MTurk).")
    completed_code = models.CharField(
        max_length=40, blank=True, validators=[platform_code],
        help_text="The platform's code for a completed submission (study codes only).")
    failed_attention_code = models.CharField(
        max_length=40, blank=True, validators=[platform_code],
        help_text="The platform's code for a participant who failed the attention checks (study codes only; "
                  "empty: they get the completed code).")
    screened_out_code = models.CharField(
        max_length=40, blank=True, validators=[platform_code],
        help_text="The platform's code for someone screened out: declined consent, or the study or its arms "
                  "were full (empty: they are asked to return the study on the platform).")
    attention_failures_to_fail = models.PositiveSmallIntegerField(
        default=2, help_text="Failed attention checks at which a participant's outcome is \"failed attention "
                             "checks\" (0: never). Prolific's policy counts two or more.")
    contact_text = SanitizedHTMLField(blank=True,
                                      help_text="Who to contact about the study (shown with the consent).")
    ethics_text = SanitizedHTMLField(blank=True, help_text="The ethics approval (shown with the consent).")
    withdrawal_policy = models.CharField(
        max_length=10, choices=WithdrawalPolicy.choices, default=WithdrawalPolicy.KEEP,
        help_text="What happens to the answers of a participant who withdraws during the study.")
    # A participant silent for longer than this counts as dropped (balanced assignment, dashboard).
    active_timeout_minutes = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    # Number of arm assignments made so far: the round-robin counter, bumped atomically.
    assignments_made = models.PositiveBigIntegerField(default=0)
    # How the study was built: model hash, methods, parameters, versions, seed.
    provenance = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # New participants one client (a hashed address, kept in the cache only) may start per hour; 0: no limit.
    new_participants_per_client_hour = models.PositiveIntegerField(
        default=30, help_text="New participants one network address may start per hour (0: no limit).")
    # After each answer, how confident the participant is on a scale 1..N (0: not asked).
    confidence_rating = models.PositiveSmallIntegerField(
        default=0,
        help_text="Ask for a confidence rating 1..N with each answer (0: no rating; N from 2 to 10).")

    class Meta:
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(condition=Q(confidence_rating=0) | Q(confidence_rating__gte=2,
                                                                        confidence_rating__lte=10),
                                   name="study_confidence_rating_range"),
        ]

    def __str__(self) -> str:
        return self.slug

    @property
    def collects_clicks(self) -> bool:
        """Whether participants click on blurred images: the attention design, or an attention block."""
        return self.design == self.Design.ATTENTION or bool(self.attention_block)

    @property
    def confidence_levels(self) -> list[int]:
        """The points of the confidence rating, 1..N (empty when the study asks for none)."""
        return list(range(1, self.confidence_rating + 1))


class Arm(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="arms")
    name = models.CharField(max_length=100)
    technique = models.CharField(max_length=50, help_text="Explanation method, e.g. gradcam or pv.")
    position = models.PositiveSmallIntegerField(help_text="Order of the arm in round-robin assignment.")
    intro_html = SanitizedHTMLField(
        help_text="Introduction shown after consent, with a worked example (HTML, sanitised on save).")
    example_image = models.ImageField(upload_to="arms/", blank=True)
    max_participants = models.PositiveIntegerField(
        null=True, blank=True, help_text="Assign no more participants than this to the arm (empty: no cap).")

    class Meta:
        ordering = ["study", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "position"], name="arm_unique_position"),
            models.UniqueConstraint(fields=["study", "name"], name="arm_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}/{self.name}"

    @property
    def is_control(self) -> bool:
        """Whether the arm shows no explanation (technique CONTROL): no stimuli, the item's image alone."""
        return self.technique == CONTROL


class Item(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(help_text="Order of the question under a fixed question order.")
    name = models.CharField(max_length=200, help_text="Source image name in the data set.")
    image = models.ImageField(upload_to="items/")
    model_prediction = models.CharField(max_length=200, help_text="The model's top-1 class name.")
    true_labels = models.JSONField(default=list)
    model_correct = models.BooleanField()
    # The answer options shown in every arm, CANT_TELL included; presented order varies per participant.
    options = models.JSONField()
    is_attention_check = models.BooleanField(default=False)
    # The design's part of the item (study.survey.designs), e.g. {"round": 1, "phase": "train"}.
    details = models.JSONField(default=dict, blank=True)
    # For an attention check, the option an attentive participant picks (the prediction otherwise).
    expected_option = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["study", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "position"], name="item_unique_position"),
            models.UniqueConstraint(fields=["study", "name"], name="item_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.study.slug}#{self.position}"

    @property
    def answer(self) -> str:
        """The option that counts as a correct guess."""
        return self.expected_option or self.model_prediction


class Stimulus(models.Model):
    """The explanation image of one item in one arm, for one class (`target`; a distinction item has one per
    panel class, the other designs one, for the prediction)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="stimuli")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="stimuli")
    target = models.CharField(max_length=200, help_text="The class the image explains.")
    image = models.ImageField(upload_to="stimuli/")
    provenance = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "stimuli"
        constraints = [models.UniqueConstraint(fields=["item", "arm", "target"],
                                               name="stimulus_unique_item_arm_target")]

    def __str__(self) -> str:
        return f"{self.item} [{self.arm.name}]"
