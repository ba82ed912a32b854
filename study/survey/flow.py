"""The participant's way through a study; the server decides the page (oTree style).

consent -> intro of the arm's technique -> questionnaire blocks placed "before" -> one question per
page -> blocks placed "after" -> completion page. Blocks are looked for only where they can come (before
the first answer, after the last), so the pages in between cost no questionnaire queries.
Every write is idempotent: a refresh, a back button, a double submit or a second tab
finds the same state and changes nothing.
"""
import hashlib
import hmac
import random
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery, Window
from django.utils import timezone

from study.survey.assignment import StudyFull, assign_arm
from study.models import (Item, Participant, QuestionnaireAnswer, QuestionnaireBlock, QuestionnaireQuestion,
                          RecruitmentRecord, Stimulus, Study, Trial)
from study.models.study import CANT_TELL
from study.research.dashboard import failed_attention_checks
from study.survey.questionnaire import BlockForm

# Recruitment-platform parameters kept from the study link: Prolific, Amazon MTurk, a generic label.
RECRUITMENT_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId",
                      "participant_label")
# The parameter that names the person on each platform, in order of precedence, and its external_id prefix.
PERSON_PARAMS = (("PROLIFIC_PID", "prolific"), ("workerId", "mturk"), ("participant_label", "label"))
MAX_PARAM_CHARS = 200
MAX_RT_MS = 24 * 3600 * 1000
CONSENT_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
CONSENT_KEY_MAX_AGE_S = 24 * 3600  # a consent form older than this must be reloaded
RATE_WINDOW_S = 3600
CODE_PLACEHOLDER = "{code}"  # in Study.completion_redirect_url: where the completion code goes
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand


class FlowError(Exception):
    """A request the flow refuses; `status` is the HTTP status a view answers with."""

    status = 400


class BadInput(FlowError):
    status = 400


class NotFound(FlowError):
    status = 404


class Gone(FlowError):
    """The study is closed (or the participant withdrawn): no more answers are taken."""

    status = 410


class NotReady(FlowError):
    """An open study that cannot run: no arms, no questions or missing explanation images."""

    status = 503


class Paused(FlowError):
    """A paused study: started participants finish, new ones are turned away for now."""

    status = 503


class NotCurrentQuestion(FlowError):
    """An answer to a question the participant has not reached."""

    status = 409


class TooManyParticipants(FlowError):
    """The study's limit of new participants per client was reached (Study.new_participants_per_client_hour)."""

    status = 429


class AlreadyTakenPart(FlowError):
    """A returning external ID whose participant completed the study."""

    status = 200


class ScreenedOut(Gone):
    """Someone the study turns away before they start (every arm is full); `forward_url` is the study's
    screened-out redirect ("" without one)."""

    def __init__(self, message: str, forward_url: str = ""):
        super().__init__(message)
        self.forward_url = forward_url


class PageKind(Enum):
    INTRO = "intro"
    QUESTION = "question"
    BLOCK = "block"
    COMPLETE = "complete"


@dataclass(frozen=True)
class Page:
    """The page a participant is on; `trial` and `stimulus` only for a question, `number` 1-based;
    `block` only for a questionnaire block."""

    kind: PageKind
    participant: Participant
    trial: Trial | None = None
    stimulus: Stimulus | None = None
    number: int = 0
    total: int = 0
    block: QuestionnaireBlock | None = None


def open_study(slug: str) -> Study:
    """The open study with this slug; NotFound for an unknown or draft one, Gone for a closed one."""
    study = Study.objects.filter(slug=slug).first()
    if study is None or study.status == Study.Status.DRAFT:
        raise NotFound("There is no such study.")
    if study.status == Study.Status.CLOSED:
        raise Gone("This study is closed and takes no more participants. Thank you for your interest.")
    return study


def accept_new_participants(study: Study) -> None:
    """Paused if the study is paused (it takes no new participants; started ones go on)."""
    if study.status == Study.Status.PAUSED:
        raise Paused("This study is paused and takes no new participants at the moment. "
                     "Please try again later.")


def recruitment_params(query: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed recruitment parameters of a query or form; BadInput for an overlong value."""
    params = {name: query[name] for name in RECRUITMENT_PARAMS if query.get(name)}
    for name, value in params.items():
        if len(value) > MAX_PARAM_CHARS or not value.isprintable():
            raise BadInput(f"The link parameter {name} is not valid.")
    return params


def external_id(params: Mapping[str, str]) -> str:
    """The person's platform id as stored on Participant.external_id ("prolific:<pid>"); "" without one."""
    for name, prefix in PERSON_PARAMS:
        if params.get(name):
            return f"{prefix}:{params[name]}"
    return ""


def returning_participant(study: Study, params: Mapping[str, str]) -> Participant | None:
    """The participant of `study` with the external ID in `params`, if any (never a preview), with the
    link's session recorded (record_session); AlreadyTakenPart if they completed it, Gone if they withdrew."""
    person = external_id(params)
    if not person:
        return None
    participant = Participant.objects.filter(study=study, external_id=person).first()
    if participant is None:
        return None
    if participant.status == Participant.Status.COMPLETED:
        raise AlreadyTakenPart("You have already taken part in this study. Thank you!")
    if participant.status == Participant.Status.WITHDRAWN:
        raise Gone("You have withdrawn from this study; nothing more is recorded.")
    record_session(participant, params)
    return participant


def record_session(participant: Participant, params: Mapping[str, str]) -> None:
    """Add the link's SESSION_ID to the participant's recruitment record (once each) when the link names
    this participant (their external ID): a returning Prolific participant's later sessions."""
    session = params.get("SESSION_ID")
    if not session or not participant.external_id or external_id(params) != participant.external_id:
        return
    with transaction.atomic():
        record = RecruitmentRecord.objects.select_for_update().filter(participant=participant).first()
        if record is not None and session not in record.session_ids:
            record.session_ids.append(session)
            record.save(update_fields=["session_ids"])


def issue_consent_key(study: Study) -> str:
    """A new key for the study's consent form: a random nonce, signed by the server with a timestamp."""
    return signing.dumps(secrets.token_urlsafe(24), salt=_consent_salt(study))


def _consent_salt(study: Study) -> str:
    return f"explainlab.consent:{study.pk}"


def consent_nonce(study: Study, consent_key: str) -> str:
    """The nonce inside a consent key this server issued for `study`; BadInput for a forged, foreign or
    stale one."""
    try:
        nonce = signing.loads(consent_key or "", salt=_consent_salt(study), max_age=CONSENT_KEY_MAX_AGE_S)
    except signing.BadSignature:
        raise BadInput("The consent form is incomplete or too old; please reload the study page.") from None
    if not isinstance(nonce, str) or not CONSENT_KEY_RE.fullmatch(nonce):
        raise BadInput("The consent form is incomplete or too old; please reload the study page.")
    return nonce


def client_hash(address: str) -> str:
    """A keyed hash of a client's network address: what the cache keeps instead of the address."""
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def count_new_participant(study: Study, client: str) -> None:
    """Count one new participant of `study` for the hashed client; TooManyParticipants past the study's
    hourly limit. Kept in the cache only (never in the database), for RATE_WINDOW_S from the first one."""
    limit = study.new_participants_per_client_hour
    if not limit or not client:
        return
    key = f"explainlab:new-participants:{study.pk}:{client}"
    cache.add(key, 0, RATE_WINDOW_S)
    try:
        started = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, RATE_WINDOW_S)
        started = 1
    if started > limit:
        raise TooManyParticipants(
            "Too many people have started this study from your network in the last hour. "
            "Please try again in an hour. If you already started, use the link of your own session.")


def consent(study: Study, consent_key: str, params: dict[str, str], client: str = "") -> Participant:
    """Create the consenting participant with an arm and all their trials, or find the one this form made.

    `consent_key` is the signed key of the form (issue_consent_key); `client` the hashed address of the
    client (client_hash), counted against the study's limit of new participants per client.
    A returning external ID (PERSON_PARAMS) gets its own participant back (returning_participant).
    """
    consent_key = consent_nonce(study, consent_key)
    existing = Participant.objects.filter(consent_key=consent_key).first()
    if existing is not None:
        return _same_study(existing, study)
    person = external_id(params)
    existing = returning_participant(study, params)
    if existing is not None:
        return existing
    accept_new_participants(study)
    items = list(study.items.order_by("position"))
    _check_ready(study, items)
    count_new_participant(study, client)
    try:
        with transaction.atomic():
            arm = assign_arm(study)
            participant = Participant.objects.create(study=study, arm=arm, consent_key=consent_key,
                                                     external_id=person)
            sessions = [params["SESSION_ID"]] if "SESSION_ID" in params else []
            RecruitmentRecord.objects.create(participant=participant, params=params, session_ids=sessions)
            Trial.objects.bulk_create(build_trials(participant, items))
    except StudyFull:
        raise ScreenedOut("This study has all the participants it needs. Thank you for your interest.",
                          screened_out_url(study)) from None
    except IntegrityError:
        # The same form, or the same external ID, submitted twice at once: the other request created
        # the participant (participant_unique_external_id, consent_key unique).
        existing = Participant.objects.filter(consent_key=consent_key).first()
        if existing is not None:
            return _same_study(existing, study)
        existing = returning_participant(study, params)
        if existing is None:
            raise
        return existing
    return participant


def start_preview(study: Study, arm_id: int) -> Participant:
    """A preview participant of `study` (any status) in the arm with pk `arm_id`: counted nowhere and
    assigned without the round-robin counter; NotFound for an arm of another study."""
    arm = study.arms.filter(pk=arm_id).first()
    if arm is None:
        raise NotFound("There is no such arm in this study.")
    items = list(study.items.order_by("position"))
    _check_ready(study, items)
    with transaction.atomic():
        participant = Participant.objects.create(study=study, arm=arm, is_preview=True)
        Trial.objects.bulk_create(build_trials(participant, items))
    return participant


def _same_study(participant: Participant, study: Study) -> Participant:
    if participant.study_id != study.pk:
        raise BadInput("The consent form belongs to another study; please reload the study page.")
    return participant


def _check_ready(study: Study, items: list[Item]) -> None:
    arm_ids = list(study.arms.values_list("pk", flat=True))
    if not arm_ids or not items:
        raise NotReady("This study is not ready yet (it has no arms or no questions).")
    if Stimulus.objects.filter(item__study=study).count() != len(arm_ids) * len(items):
        raise NotReady("This study is not ready yet (explanation images are missing).")


def build_trials(participant: Participant, items: list[Item]) -> list[Trial]:
    """One unsaved Trial per item: question order and option order drawn from the participant's seed."""
    ordered = list(items)
    if participant.study.question_order == Study.QuestionOrder.SHUFFLED:
        random.Random(f"{participant.seed}:order").shuffle(ordered)
    return [Trial(participant=participant, item=item, presented_position=position,
                  presented_options=shuffled_options(participant.seed, item))
            for position, item in enumerate(ordered)]


def shuffled_options(seed: int, item: Item) -> list[str]:
    """The item's options in a per-participant, per-question order; "I just can't tell" stays last."""
    options = [option for option in item.options if option != CANT_TELL]
    random.Random(f"{seed}:{item.pk}").shuffle(options)
    if CANT_TELL in item.options:
        options.append(CANT_TELL)
    return options


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
    if participant.study.status not in (Study.Status.OPEN, Study.Status.PAUSED) and not participant.is_preview:
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
    # The arm's explanation image of the item comes with the trial, in the same query.
    stimuli = Stimulus.objects.filter(item=OuterRef("item"), arm=participant.arm_id)
    trial = waiting_trials(participant).annotate(
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
    if trial.stimulus_pk is None:
        raise NotReady("This study is not ready yet (explanation images are missing).")
    if trial.shown_at is None:
        now = timezone.now()
        Trial.objects.filter(pk=trial.pk, shown_at__isnull=True).update(shown_at=now)
        trial.shown_at = now
    stimulus = Stimulus(pk=trial.stimulus_pk, item=trial.item, arm=participant.arm,
                        image=trial.stimulus_image)
    # Answers come strictly in order, so every trial before the current one is answered.
    total = trial.presented_position + trial.remaining
    return Page(PageKind.QUESTION, participant, trial, stimulus, trial.presented_position + 1, total)


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


def answer(token: str, trial_id: int, option: str, rt_ms: int | None, confidence: int | None = None) -> Answered:
    """Record the answer to the current question (with its confidence rating 1..N when the study asks for
    one); nothing is written if it was already answered.

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
        if option not in current.presented_options:
            raise BadInput("Please choose one of the options shown.")
        check_confidence(participant.study, confidence)
        now = timezone.now()
        written = Trial.objects.filter(pk=current.pk, answered_at__isnull=True).update(
            chosen_option=option, correct_guess=option == current.item.answer, rt_ms=rt_ms, answered_at=now,
            confidence=confidence)
        changes = {"last_seen_at": now}
        last = current.remaining == 1
        if last and not pending_blocks(participant, QuestionnaireBlock.Placement.AFTER).exists():
            changes.update(completion(participant, now))
        Participant.objects.filter(pk=participant.pk).update(**changes)
    for name, value in changes.items():
        setattr(participant, name, value)
    return Answered(bool(written), completion_url(participant))


def check_confidence(study: Study, confidence: int | None) -> None:
    """BadInput unless `confidence` is in 1..study.confidence_rating (None when the study asks for none)."""
    levels = study.confidence_rating
    if levels and (confidence is None or not 1 <= confidence <= levels):
        raise BadInput(f"Please say how confident you are, from 1 to {levels}.")
    if not levels and confidence is not None:
        raise BadInput("This study asks for no confidence rating.")


def completion(participant: Participant, now) -> dict:
    """The participant's fields that complete them at `now`: their outcome (failed attention checks once
    they failed Study.attention_failures_to_fail of them, else completed) and that outcome's code."""
    study = participant.study
    limit = study.attention_failures_to_fail
    failed = limit and failed_attention_checks(participant.trials.all()).count() >= limit
    outcome = Participant.Outcome.FAILED_ATTENTION if failed else Participant.Outcome.COMPLETED
    return {"status": Participant.Status.COMPLETED, "completed_at": now, "outcome": outcome,
            "completion_code": outcome_code(study, outcome)}


def outcome_code(study: Study, outcome: str) -> str:
    """The completion code of a finishing participant: a new random one under per-participant codes, else
    the study's code for `outcome` (the completed code when failing attention checks has none)."""
    if study.completion_codes == Study.CompletionCodes.PARTICIPANT:
        return new_code()
    if outcome == Participant.Outcome.FAILED_ATTENTION and study.failed_attention_code:
        return study.failed_attention_code
    return study.completed_code


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


def new_code(length: int = 10) -> str:
    """A completion code from `secrets`, in capitals and digits that are hard to confuse."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def completion_url(participant: Participant) -> str:
    """The study's completion redirect carrying the participant's code (with_code); "" if the study has
    none, or the participant is not done, or a preview."""
    base = participant.study.completion_redirect_url
    if not base or participant.status != Participant.Status.COMPLETED or participant.is_preview:
        return ""
    return with_code(base, participant.completion_code)


def screened_out_url(study: Study) -> str:
    """Where someone screened out (declined consent, a full study) goes: the study's redirect with its
    screened-out code; "" without a redirect or without that code."""
    if not study.completion_redirect_url or not study.screened_out_code:
        return ""
    return with_code(study.completion_redirect_url, study.screened_out_code)


def with_code(url: str, code: str) -> str:
    """`url` carrying `code`: a `{code}` in it becomes the code; otherwise its `cc` parameter gets the code,
    added when it has none, the way Prolific expects (https://app.prolific.com/submissions/complete?cc=CODE).
    Without a code, `url` as it is."""
    if not code:
        return url
    if CODE_PLACEHOLDER in url:
        return url.replace(CODE_PLACEHOLDER, quote(code, safe=""))
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "cc" for name, _ in query):
        query = [(name, code if name == "cc" else value) for name, value in query]
    else:
        query.append(("cc", code))
    return urlunsplit(parts._replace(query=urlencode(query)))


def withdraw(token: str) -> bool:
    """Withdraw an active participant: status withdrawn, and under the study's "delete" policy their
    trials and questionnaire answers deleted. False (nothing written) if they had withdrawn already; Gone once completed."""
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
