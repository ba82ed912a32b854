"""The participant's way through a study; the server decides the page (oTree style).

consent -> intro of the arm's technique -> questionnaire blocks placed "before" -> one question per
page -> blocks placed "after" -> completion page. Blocks are looked for only where they can come (before
the first answer, after the last), so the pages in between cost no questionnaire queries.
Every write is idempotent: a refresh, a back button, a double submit or a second tab
finds the same state and changes nothing. Consent creates the participant (study.survey.enrolment); the
completion page's code and redirect come from study.survey.completion.
"""
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from django.db import transaction
from django.db.models import Case, Count, Exists, F, OuterRef, QuerySet, Subquery, Value, When, Window
from django.utils import timezone

from study.models import (Participant, QuestionnaireAnswer, QuestionnaireBlock, QuestionnaireQuestion,
                          Stimulus, Study, Trial)
from study.survey.completion import completion, completion_url
from study.survey.designs import Design, design_of, design_of_trial
from study.survey.designs.attention import BLURRED
from study.survey.designs.base import confidence_of
from study.survey.errors import BadInput, Gone, NotCurrentQuestion, NotFound, NotReady
from study.survey.questionnaire import BlockForm

MAX_RT_MS = 24 * 3600 * 1000


class PageKind(Enum):
    INTRO = "intro"
    QUESTION = "question"
    BLOCK = "block"
    COMPLETE = "complete"


@dataclass(frozen=True)
class Page:
    """The page a participant is on; `trial` and `stimulus` only for a question (no stimulus in a control
    arm: the item's image alone; attention's control arm: the blurred image), `panels` instead of `stimulus`
    in a design with one explanation per presented option (distinction: the stimuli in the trial's presented
    order), `number` 1-based; `block` only for a questionnaire block."""

    kind: PageKind
    participant: Participant
    trial: Trial | None = None
    stimulus: Stimulus | None = None
    number: int = 0
    total: int = 0
    block: QuestionnaireBlock | None = None
    panels: tuple[Stimulus, ...] = ()


def participant_for(token: str, lock: bool = False) -> Participant:
    """The participant with this token; NotFound for a forged one, Gone once they withdrew or their study
    stopped (a preview runs in a study of any status).

    With `lock` (inside a transaction) their row stays locked until the transaction ends.
    """
    # The study's build provenance (a JSON document) is never needed on the participant's pages.
    participants = Participant.objects.select_related("study", "arm").defer("study__provenance")
    if lock:
        participants = participants.select_for_update(of=("self",))
    try:
        participant = participants.get(token=token)
    except Participant.DoesNotExist:
        raise NotFound("This study link is not valid. Please use the link you were given.") from None
    if participant.status == Participant.Status.COMPLETED:
        return participant
    if participant.status == Participant.Status.WITHDRAWN:
        raise Gone("You have withdrawn from this study; nothing more is recorded.")
    running = participant.study.status in (Study.Status.OPEN, Study.Status.PAUSED)
    if not running and not participant.is_preview:
        raise Gone("This study is closed and takes no more answers. Thank you for taking part.")
    return participant


def waiting_trials(participant: Participant) -> QuerySet:
    """The participant's unanswered trials with their items, current first, each with `remaining` (count)."""
    return (participant.trials.filter(answered_at__isnull=True).select_related("item")
            .annotate(remaining=Window(Count("pk"))).order_by("presented_position"))


def current_page(participant: Participant) -> Page:
    """The page the participant is on; shows a question (stamps `shown_at`) the first time it is served."""
    if participant.status == Participant.Status.COMPLETED:
        return Page(PageKind.COMPLETE, participant)
    if participant.intro_seen_at is None:
        return Page(PageKind.INTRO, participant)
    # The stimulus the trial shows (its explanation or blurred image) comes with it, in the same query (a
    # panelled design's several come after, in `panels`).
    stimuli = Stimulus.objects.filter(item=OuterRef("item"), arm=participant.arm_id,
                                      target=OuterRef("target"))
    trial = waiting_trials(participant).annotate(target=shown_target(participant)).annotate(
        stimulus_pk=Subquery(stimuli.values("pk")[:1]), stimulus_image=Subquery(stimuli.values("image")[:1]),
    ).first()
    if trial is not None and trial.presented_position == 0:
        # Blocks placed "before" are asked before the first answer; once one is given they are done with.
        block = pending_blocks(participant, QuestionnaireBlock.Placement.BEFORE).first()
        if block is not None:
            return Page(PageKind.BLOCK, participant, block=block)
    if trial is None:
        block = pending_blocks(participant, QuestionnaireBlock.Placement.AFTER).first()
        if block is not None:
            return Page(PageKind.BLOCK, participant, block=block)
        # Everything answered, yet active: the block the participant was on was deleted meanwhile.
        Participant.objects.filter(pk=participant.pk, status=Participant.Status.ACTIVE).update(
            **completion(participant, timezone.now()))
        participant.refresh_from_db()
        return Page(PageKind.COMPLETE, participant)
    design = design_of_trial(participant.study, trial)
    # What the trial shows: the explained class's stimulus, or a control arm's own (attention: the blurred
    # image); nothing for a control arm otherwise, or for an item that explains nothing (learn_predict's tests).
    if trial.stimulus_pk is None and design.stimulus_targets(participant.arm.is_control, trial.item):
        raise NotReady("This study is not ready yet (explanation images are missing).")
    if trial.shown_at is None:
        now = timezone.now()
        Trial.objects.filter(pk=trial.pk, shown_at__isnull=True).update(shown_at=now)
        trial.shown_at = now
    stimulus = None if trial.stimulus_pk is None else Stimulus(
        pk=trial.stimulus_pk, item=trial.item, arm=participant.arm, target=trial.target,
        image=trial.stimulus_image)
    # Answers come strictly in order, so every trial before the current one is answered.
    total = trial.presented_position + trial.remaining
    return Page(PageKind.QUESTION, participant, trial, stimulus, trial.presented_position + 1, total,
                panels=panels(participant, trial, design))


def shown_target(participant: Participant) -> Case:
    """The target of the stimulus a trial of `participant` shows first (Design.stimulus_targets): the blurred
    image on an attention page (its design, or an attention block); in a control arm its design's control
    target; else the explanation of the item's prediction (in a control arm without a control target, and
    in a design that shows none, no such stimulus exists)."""
    design, is_control = design_of(participant.study), participant.arm.is_control
    question = Value(design.control_targets[0]) if is_control and design.control_targets else F(
        "item__model_prediction")
    return Case(When(block=Trial.Block.ATTENTION, then=Value(BLURRED)), default=question)


def panels(participant: Participant, trial: Trial, design: Design) -> tuple[Stimulus, ...]:
    """The arm's stimuli of the trial's presented options, in the presented order, when its `design` shows
    one per option (distinction); () otherwise. NotReady when one is missing."""
    if not design.panelled or participant.arm.is_control:
        return ()
    by_target = {stimulus.target: stimulus for stimulus in
                 Stimulus.objects.filter(item=trial.item_id, arm=participant.arm_id)}
    if not set(trial.presented_options) <= set(by_target):
        raise NotReady("This study is not ready yet (explanation images are missing).")
    return tuple(by_target[option] for option in trial.presented_options)


def finish_intro(participant: Participant) -> None:
    """Record that the participant read the intro (once; later calls change nothing)."""
    now = timezone.now()
    Participant.objects.filter(pk=participant.pk, intro_seen_at__isnull=True).update(
        intro_seen_at=now, last_seen_at=now)


@dataclass(frozen=True)
class Answered:
    """What an answer did: `written` False when it was given before; `completion_url` once the participant
    completed the study (as completion_url makes it; "" without a redirect)."""

    written: bool
    completion_url: str = ""


def answer(token: str, trial_id: int, fields: Mapping, rt_ms: int | None) -> Answered:
    """Record the answer to the current question: its `fields` (the page's POST: the option, the
    confidence rating 1..N when the study asks for one, and what else the study's design asks, checked
    and scored by the design); nothing is written if it was already answered.

    NotFound for a forged token or another participant's trial, Gone as participant_for,
    NotCurrentQuestion for a question not reached yet, BadInput for an option not offered or a missing
    or out-of-range confidence rating. The last answer completes the participant, in the same
    transaction, unless questionnaire blocks come after the questions.
    """
    if rt_ms is not None and not 0 <= rt_ms <= MAX_RT_MS:
        raise BadInput("The response time is not valid.")
    with transaction.atomic():
        participant = participant_for(token, lock=True)
        if participant.status != Participant.Status.ACTIVE:
            return Answered(False, completion_url(participant))
        current = waiting_trials(participant).first()
        if current is None or current.pk != trial_id:
            answered_at = list(participant.trials.filter(pk=trial_id).values_list("answered_at", flat=True))
            if not answered_at:
                raise NotFound("This question is not part of your study.")
            if answered_at[0] is not None:
                return Answered(False)
            raise NotCurrentQuestion("This question has not been reached yet.")
        if participant.intro_seen_at is None or current.shown_at is None:
            raise NotCurrentQuestion("This question has not been reached yet.")
        study = participant.study
        scored = design_of_trial(study, current).score(study, current.item, current.presented_options, fields)
        # A trial that asks no question (correct_guess None) asks for no confidence either.
        confidence = confidence_of(study, fields, "confidence") if scored.correct_guess is not None else None
        now = timezone.now()
        written = Trial.objects.filter(pk=current.pk, answered_at__isnull=True).update(
            chosen_option=scored.chosen_option, correct_guess=scored.correct_guess, details=scored.details,
            rt_ms=rt_ms, answered_at=now, confidence=confidence)
        changes = {"last_seen_at": now}
        last = current.remaining == 1
        if last and not pending_blocks(participant, QuestionnaireBlock.Placement.AFTER).exists():
            changes.update(completion(participant, now))
        Participant.objects.filter(pk=participant.pk).update(**changes)
    for name, value in changes.items():
        setattr(participant, name, value)
    return Answered(bool(written), completion_url(participant))


def pending_blocks(participant: Participant, placement: str) -> QuerySet:
    """The study's questionnaire blocks at `placement` with a question the participant has not answered,
    in order."""
    answered = QuestionnaireAnswer.objects.filter(participant=participant.pk, question=OuterRef("pk"))
    unanswered = QuestionnaireQuestion.objects.filter(block=OuterRef("pk")).exclude(Exists(answered))
    return (QuestionnaireBlock.objects.filter(study=participant.study_id, placement=placement)
            .filter(Exists(unanswered)).order_by("position"))


def current_block(participant: Participant) -> QuestionnaireBlock | None:
    """The questionnaire block the participant is on, or None (intro, a question, or done)."""
    if participant.status != Participant.Status.ACTIVE or participant.intro_seen_at is None:
        return None
    # As current_page: blocks placed "before" only while no answer is given.
    if not participant.trials.filter(answered_at__isnull=False).exists():
        block = pending_blocks(participant, QuestionnaireBlock.Placement.BEFORE).first()
        if block is not None:
            return block
    if participant.trials.filter(answered_at__isnull=True).exists():
        return None
    return pending_blocks(participant, QuestionnaireBlock.Placement.AFTER).first()


def answer_block(token: str, block_id: int, data: Mapping) -> BlockForm | None:
    """Save the answers to the participant's current questionnaire block, all in one transaction.

    Returns the form with its errors when an answer is missing or invalid (nothing written), else None,
    also when the block was answered before (nothing written: a double submit). NotFound for another
    study's block, NotCurrentQuestion for a block not reached yet. The last block after the questions
    completes the participant.
    """
    with transaction.atomic():
        participant = participant_for(token, lock=True)
        if participant.status != Participant.Status.ACTIVE:
            return None
        block = QuestionnaireBlock.objects.filter(pk=block_id, study=participant.study_id).first()
        if block is None:
            raise NotFound("This questionnaire is not part of your study.")
        current = current_block(participant)
        if current is None or current.pk != block.pk:
            if not pending_blocks(participant, block.placement).filter(pk=block.pk).exists():
                return None
            raise NotCurrentQuestion("This questionnaire has not been reached yet.")
        form = BlockForm(block, data)
        if not form.is_valid():
            return form
        now = timezone.now()
        QuestionnaireAnswer.objects.bulk_create(
            QuestionnaireAnswer(participant=participant, question_id=pk, value=value, answered_at=now)
            for pk, value in form.values().items())
        changes = {"last_seen_at": now}
        if block.placement == QuestionnaireBlock.Placement.AFTER and not pending_blocks(
                participant, QuestionnaireBlock.Placement.AFTER).exists():
            changes.update(completion(participant, now))
        Participant.objects.filter(pk=participant.pk).update(**changes)
    return None


def withdraw(token: str) -> bool:
    """Withdraw an active participant: status withdrawn, and under the study's "delete" policy their
    trials and questionnaire answers deleted. False (nothing written) if they had withdrawn already; Gone
    once completed."""
    with transaction.atomic():
        participants = Participant.objects.select_related("study").select_for_update(of=("self",))
        participant = participants.filter(token=token).first()
        if participant is None:
            raise NotFound("This study link is not valid. Please use the link you were given.")
        if participant.status == Participant.Status.WITHDRAWN:
            return False
        if participant.status == Participant.Status.COMPLETED:
            raise Gone("You have completed this study; there is nothing to withdraw from here.")
        if participant.study.withdrawal_policy == Study.WithdrawalPolicy.DELETE:
            participant.trials.all().delete()
            participant.questionnaire_answers.all().delete()
        Participant.objects.filter(pk=participant.pk).update(
            status=Participant.Status.WITHDRAWN, last_seen_at=timezone.now())
    return True
