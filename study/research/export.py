"""Exports of a study's answers: trials, participants and questionnaire answers (long format: one row per
participant and questionnaire question) as CSV (streamed), Parquet or pandas frames.

CSV rows come from one query each, read in chunks, so CSV exports of any size run in constant memory
and a constant number of queries.

CSV files are opened in spreadsheets, which run a cell starting with `=`, `+`, `-`, `@`, a tab or a
carriage return as a formula. As OWASP recommends, such text cells get a leading `'` (which
spreadsheets show as text and hide). Only text is changed: numbers (a response time, a position)
are written as numbers, so `-0.5` stays a number; a *text* value such as a class named "-1" gets
the quote. Parquet files keep every value exact and typed (no quoting): use them for analysis.

Both tables end with the participant's outcome (completed, failed_attention; empty until they finish), the
completion code they were given, the recruitment-platform parameters of the study link
(recruitment.RECRUITMENT_PARAMS: PROLIFIC_PID, STUDY_ID, SESSION_ID, workerId, assignmentId, hitId,
participant_label; empty when absent) and `session_ids`, every SESSION_ID a returning participant came
with, joined by ";", so that answers can be matched to payments. Nothing else that
identifies a person is stored or exported; participants' tokens never are. Preview runs
(Participant.is_preview) are left out, so every analysis made from these tables leaves them out too.
Trials of a participant who withdrew under the "keep" policy stay, with `withdrawn` true.
"""

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import pandas as pd
from django.db.models import Count, Q

from study.models import Participant, QuestionnaireAnswer, Study, Trial
from study.models.study import CANT_TELL
from study.survey.designs import design_of
from study.research.dashboard import failed_attention_checks, reported_status
from study.survey.recruitment import RECRUITMENT_PARAMS

CHUNK_SIZE = 2000

TRIAL_COLUMNS = tuple(
    "participant arm technique item item_position presented_position model_correct is_attention_check"
    " model_prediction presented_options chosen_option correct_guess cant_tell rt_ms confidence shown_at"
    " answered_at withdrawn outcome completion_code".split()
) + RECRUITMENT_PARAMS + ("session_ids",)
PARTICIPANT_COLUMNS = tuple(
    "participant arm technique status consented_at completed_at n_answered attention_failures"
    " outcome completion_code".split()
) + RECRUITMENT_PARAMS + ("session_ids",)
# What the database gives for each column; cant_tell is derived from chosen_option.
TRIAL_FIELDS = tuple(
    "participant_id participant__arm__name participant__arm__technique item__name item__position"
    " presented_position item__model_correct item__is_attention_check item__model_prediction"
    " presented_options chosen_option correct_guess rt_ms confidence shown_at answered_at participant__status"
    " participant__outcome participant__completion_code participant__recruitment__params"
    " participant__recruitment__session_ids details".split()
)
PARTICIPANT_FIELDS = tuple(
    "pk arm__name arm__technique reported consented_at completed_at n_answered attention_failures"
    " outcome completion_code recruitment__params recruitment__session_ids".split()
)
# value: the answer as text (a JSON list for multiple choice; empty when skipped); value_number: the number
# or Likert point as a number (empty for other kinds).
QUESTIONNAIRE_COLUMNS = tuple(
    "study participant arm technique block_placement block_position block question question_position kind"
    " value value_number answered_at".split()
)
QUESTIONNAIRE_FIELDS = tuple(
    "participant__study__slug participant_id participant__arm__name participant__arm__technique"
    " question__block__placement question__block__position question__block__title question__key"
    " question__position question__kind value answered_at".split()
)
DATETIME_COLUMNS = {"trials": ("shown_at", "answered_at"), "participants": ("consented_at", "completed_at"),
                    "questionnaire": ("answered_at",)}


class ExportError(Exception):
    """An export could not be written (e.g. the output folder is not usable)."""


def trial_columns(study: Study) -> tuple[str, ...]:
    """The trial table's columns: TRIAL_COLUMNS, then the study design's (study.survey.designs)."""
    return TRIAL_COLUMNS + design_of(study).export_columns


def trials_rows(study: Study) -> Iterator[tuple]:
    """One tuple per answered question (an attention block's clicks are in study.research.clicks), in
    trial_columns(study) order, by participant then presented position."""
    design = design_of(study)
    trials = (
        Trial.objects.filter(participant__study=study, participant__is_preview=False)
        .filter(answered_at__isnull=False, block=Trial.Block.QUESTIONS)
        .order_by("participant_id", "presented_position")
        .values_list(*TRIAL_FIELDS)
    )
    for (*head, options, chosen, correct_guess, rt_ms, confidence, shown_at, answered_at, status, outcome,
         code, params, sessions, details) in trials.iterator(CHUNK_SIZE):
        yield (
            *head,
            json.dumps(options),
            chosen,
            correct_guess,
            chosen == CANT_TELL,
            rt_ms,
            confidence,
            shown_at,
            answered_at,
            status == Participant.Status.WITHDRAWN,
            outcome,
            code,
            *_recruitment(params, sessions),
            *design.export_values(details),
        )


def _recruitment(params: dict | None, sessions: list | None) -> tuple[str, ...]:
    """The RECRUITMENT_PARAMS values of a recruitment record's params ("" where absent), then its session
    ids joined by ";" (every SESSION_ID the person came with, first one first)."""
    params = params or {}
    return (*(params.get(name, "") for name in RECRUITMENT_PARAMS), ";".join(sessions or ()))


def questionnaire_rows(study: Study) -> Iterator[tuple]:
    """One tuple per participant and answered questionnaire question, in QUESTIONNAIRE_COLUMNS order: by
    participant, then blocks before the questions, blocks after, each in position order."""
    answers = (
        QuestionnaireAnswer.objects.filter(participant__study=study, participant__is_preview=False)
        .order_by("participant_id", "-question__block__placement", "question__block__position",
                  "question__position")
        .values_list(*QUESTIONNAIRE_FIELDS)
    )
    for *head, kind, value, answered_at in answers.iterator(CHUNK_SIZE):
        number = float(value) if kind in ("number", "likert") and value is not None else None
        text = json.dumps(value) if isinstance(value, list) else ("" if value is None else str(value))
        yield (*head, kind, text, number, answered_at)


def participants_rows(study: Study) -> Iterator[tuple]:
    """One tuple per participant who consented, in PARTICIPANT_COLUMNS order, by participant pk."""
    answered = Q(trials__answered_at__isnull=False, trials__block=Trial.Block.QUESTIONS)
    failed = Q(trials__in=failed_attention_checks(Trial.objects.filter(participant__study=study)))
    participants = (
        Participant.objects.filter(study=study, is_preview=False)
        .annotate(
            reported=reported_status(study),
            n_answered=Count("trials", filter=answered),
            attention_failures=Count("trials", filter=failed),
        )
        .order_by("pk")
        .values_list(*PARTICIPANT_FIELDS)
    )
    for *head, params, sessions in participants.iterator(CHUNK_SIZE):
        yield (*head, *_recruitment(params, sessions))


class _Line:
    """A write-only file that hands back what is written: csv.writer's target for streaming."""

    def write(self, value: str) -> str:
        return value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A value as csv.writer should write it: datetimes in ISO 8601, formula-like text quoted (OWASP)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(columns: Iterable[str], rows: Iterable[tuple], rows_per_chunk: int = 500) -> Iterator[str]:
    """CSV text in chunks of ``rows_per_chunk`` rows, the header first; cells as `_cell` writes them."""
    writer = csv.writer(_Line())
    yield writer.writerow(columns)
    chunk = []
    for row in rows:
        chunk.append(writer.writerow([_cell(value) for value in row]))
        if len(chunk) == rows_per_chunk:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def trials_csv(study: Study) -> Iterator[str]:
    """trials.csv as text chunks."""
    return csv_lines(trial_columns(study), trials_rows(study))


def participants_csv(study: Study) -> Iterator[str]:
    """participants.csv as text chunks."""
    return csv_lines(PARTICIPANT_COLUMNS, participants_rows(study))


def questionnaire_csv(study: Study) -> Iterator[str]:
    """questionnaire.csv as text chunks."""
    return csv_lines(QUESTIONNAIRE_COLUMNS, questionnaire_rows(study))


def trials_dataframe(study: Study) -> pd.DataFrame:
    """trials.csv as a frame: one row per answered trial, datetimes as UTC timestamps, confidence a nullable
    integer (Int64)."""
    frame = _frame(trials_rows(study), trial_columns(study), DATETIME_COLUMNS["trials"])
    frame["confidence"] = frame["confidence"].astype("Int64")
    return frame


def participants_dataframe(study: Study) -> pd.DataFrame:
    """participants.csv as a frame: one row per participant, datetimes as UTC timestamps."""
    return _frame(participants_rows(study), PARTICIPANT_COLUMNS, DATETIME_COLUMNS["participants"])


def questionnaire_dataframe(study: Study) -> pd.DataFrame:
    """questionnaire.csv as a frame: one row per participant and answered question; value_number a float."""
    frame = _frame(questionnaire_rows(study), QUESTIONNAIRE_COLUMNS, DATETIME_COLUMNS["questionnaire"])
    frame["value_number"] = frame["value_number"].astype(float)
    # microseconds, as the database gives them, also when there are no rows (pandas would pick seconds)
    frame["answered_at"] = frame["answered_at"].astype("datetime64[us, UTC]")
    return frame


def _frame(
    rows: Iterable[tuple], columns: tuple[str, ...], datetime_columns: tuple[str, ...]
) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(list(rows), columns=list(columns))
    for column in datetime_columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as a Parquet file (pyarrow): exact values, typed columns, UTC timestamps."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()


EXPORTS = {"trials.csv": trials_csv, "participants.csv": participants_csv,
           "questionnaire.csv": questionnaire_csv}
FRAMES = {"trials": trials_dataframe, "participants": participants_dataframe,
          "questionnaire": questionnaire_dataframe}
FORMATS = ("csv", "parquet")


def write_exports(study: Study, out_dir: Path, formats: tuple[str, ...] = ("csv",)) -> list[Path]:
    """Write trials, participants and questionnaire in each of `formats` (csv, parquet) into ``out_dir``
    (created if missing), each file whole or not at all.

    Files are written to a temporary name and renamed; they are readable by their owner only (mode 0600).
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"cannot create output folder {out_dir}: {error}") from error
    paths = []
    for fmt in formats:
        for table, frame in FRAMES.items():
            if fmt == "csv":
                chunks = (chunk.encode() for chunk in EXPORTS[f"{table}.csv"](study))
            else:
                chunks = [parquet_bytes(frame(study))]
            paths.append(_write_atomically(out_dir / f"{table}.{fmt}", chunks))
    return paths


def _write_atomically(path: Path, chunks: Iterable[bytes]) -> Path:
    try:
        handle = tempfile.NamedTemporaryFile(
            "wb",
            dir=path.parent,
            prefix=f".{path.name}.",
            suffix=".tmp",
            delete=False,
        )
    except OSError as error:
        raise ExportError(f"cannot write into {path.parent}: {error}") from error
    try:
        with handle:
            handle.writelines(chunks)
        os.replace(handle.name, path)
    except BaseException as error:
        Path(handle.name).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise ExportError(f"cannot write {path}: {error}") from error
        raise
    return path
