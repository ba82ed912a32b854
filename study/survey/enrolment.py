"""How someone becomes a participant: the open study, the consent form's signed key, the limit of new
participants per client, and the participant created with an arm and all their trials (or a preview one).
Consenting twice, or from a second tab, finds the participant the first consent made."""

import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, transaction

from study.models import Item, Participant, RecruitmentRecord, Stimulus, Study, Trial
from study.models.study import CONTROL
from study.survey.assignment import StudyFull, assign_arm
from study.survey.completion import screened_out_url
from study.survey.designs import DESIGNS, design_of
from study.survey.errors import BadInput, Gone, NotFound, NotReady, Paused, ScreenedOut, TooManyParticipants
from study.survey.recruitment import external_id, returning_participant

CONSENT_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
CONSENT_KEY_MAX_AGE_S = 24 * 3600  # a consent form older than this must be reloaded
RATE_WINDOW_S = 3600


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
    """NotReady unless the study has arms, items, and a stimulus for each item in each explained arm (a
    control arm has none, or its design's control_targets: attention's blurred image), and with an attention
    block the blurred image of each of its items in every arm."""
    techniques = list(study.arms.values_list("technique", flat=True))
    if not techniques or not items:
        raise NotReady("This study is not ready yet (it has no arms or no questions).")
    explained = sum(technique != CONTROL for technique in techniques)
    design = design_of(study)
    per_arm = sum(len(design.explained_classes(item.model_prediction, item.options, item.details))
                  for item in items)
    per_control = len(design.control_targets) * len(items)
    expected = explained * per_arm + (len(techniques) - explained) * per_control
    expected += len(techniques) * len(attention_block_items(study, items))
    if Stimulus.objects.filter(item__study=study).count() != expected:
        raise NotReady("This study is not ready yet (explanation images are missing).")


def attention_block_items(study: Study, items: list[Item]) -> list[Item]:
    """The `items` of the study's attention block: those that are not attention checks (none without one)."""
    return [item for item in items if not item.is_attention_check] if study.attention_block else []


def build_trials(participant: Participant, items: list[Item]) -> list[Trial]:
    """The participant's unsaved trials: the attention block's first, if the study has one (by position, or
    shuffled under a shuffled question order), then one per item, as the study's design orders and presents
    them; orders drawn from the participant's seed."""
    study, seed = participant.study, participant.seed
    design = design_of(study)
    block = DESIGNS[Study.Design.ATTENTION].order(study, attention_block_items(study, items), seed)
    trials = [Trial(participant=participant, item=item, presented_position=position, presented_options=[],
                    block=Trial.Block.ATTENTION) for position, item in enumerate(block)]
    return trials + [Trial(participant=participant, item=item, presented_position=len(block) + position,
                           presented_options=design.presented_options(study, item, seed))
                     for position, item in enumerate(design.order(study, items, seed))]
