"""How a participant completes a study: their outcome and completion code, and the redirect back to the
recruitment platform that carries a code."""

import secrets
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from study.models import Participant, Study
from study.research.dashboard import failed_attention_checks

CODE_PLACEHOLDER = "{code}"  # in Study.completion_redirect_url: where the completion code goes
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed by hand


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
