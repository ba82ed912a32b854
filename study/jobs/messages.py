"""The text a job row stores and its page shows: cleaned of control characters, cut to a length, and a
failed job's error in the project's own words or, for a bug, by its type only."""
from __future__ import annotations

import re

PROJECT_PACKAGES = ("study", "explainers", "analysis", "evaluation")  # whose own errors a job page quotes
MAX_ERROR_CHARS = 4000  # of a failed job's error as stored and shown
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_message(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` as a job row can store and a page can show, in at most `limit` characters: control characters
    (a NUL from an uploaded file would make PostgreSQL refuse the row) become U+FFFD, line breaks and
    tabs stay, and a longer text is cut with a note."""
    cleaned = CONTROL_CHARACTERS.sub("\ufffd", text)
    if len(cleaned) <= limit:
        return cleaned
    note = f" ... ({len(cleaned):,} characters in all)"
    return cleaned[:limit - len(note)] + note


def describe(error: BaseException) -> str:
    """What a failed job's page shows: an error raised on purpose by the project's packages in its own
    words; any other (a bug) by its type and first words only, its traceback being in the worker's log."""
    text = str(error)
    if type(error).__module__.split(".")[0] in PROJECT_PACKAGES and text:
        return text
    detail = f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
    return f"an unexpected error stopped the job ({detail}); the details are in the worker's log"
