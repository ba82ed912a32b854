"""What a recruitment platform's study link brings (Prolific, Amazon MTurk, a generic label): the kept
parameters, the person's external ID, and that person coming back (a returning participant, a new session)."""

from collections.abc import Mapping

from django.db import transaction

from study.models import Participant, RecruitmentRecord, Study
from study.survey.errors import AlreadyTakenPart, BadInput, Gone

# Recruitment-platform parameters kept from the study link: Prolific, Amazon MTurk, a generic label.
RECRUITMENT_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId",
                      "participant_label")
# The parameter that names the person on each platform, in order of precedence, and its external_id prefix.
PERSON_PARAMS = (("PROLIFIC_PID", "prolific"), ("workerId", "mturk"), ("participant_label", "label"))
MAX_PARAM_CHARS = 200


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
