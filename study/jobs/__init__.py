"""Jobs: heavy work as a `Job` row run by Celery workers (`study.tasks`).

A view or command validates its input and calls `enqueue`; a worker claims the job and calls its
kind's `run` (the same service function the management command runs in the foreground). A kind
with `plan` is split into shards (`plan` -> one dict per shard) that run on the `gpu` queue, each
idempotent, any number at once on any number of workers; its `finish` runs when the last is done.
Progress is written after each batch; a cancelled job stops at the next report (`JobCancelled`).
A job whose worker died is re-queued (when the same worker restarts, or once its heartbeat is
older than JOB_STALE_SECONDS) up to JOB_MAX_ATTEMPTS times, then failed with a clear message.
A run's temporary folders under TMP_DIR are named after the job and its attempt (`staging_prefix`), so that
a starting worker removes those a dead run left (`remove_dead_staging`) and keeps those of live runs.
"""
from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from study.models import Job
from study.tmp import tmp_dir

log = logging.getLogger(__name__)
State = Job.State
PROJECT_PACKAGES = ("study", "explainers", "analysis", "evaluation")  # whose own errors a job page quotes
MAX_ERROR_CHARS = 4000  # of a failed job's error as stored and shown
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
UPLOAD = "upload"  # the job folder's sub-folder for the files a researcher sent (a zip, a checkpoint)
STAGING_NAME = re.compile(r"job-(\d+)-(\d+)-")  # a run's temporary folder: job-<id>-<attempt>-<what>-...


class JobCancelled(Exception):
    """Raised inside a running job once it was cancelled (or finished elsewhere): stop now."""


class JobError(Exception):
    """A job cannot be started as asked (unknown kind, bad parameters, not retryable)."""


class JobClaimed(JobError):
    """What the job would work on is claimed by another queued or running job (enqueue's `claim`)."""


@dataclass(frozen=True)
class JobKind:
    """What a kind of job does. `run(job, report) -> result links` does the work in one task, or, for
    a split kind, `plan(job) -> shard params`, `run_shard(job, shard, report)` and `finish(job, report)
    -> result links` (the shards go to the `gpu` queue)."""

    name: str
    label: str
    run: Callable | None = None
    plan: Callable | None = None
    run_shard: Callable | None = None
    finish: Callable | None = None
    queue: str = "celery"


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Add a kind of job (one entry per kind; see study.job_kinds)."""
    if (kind.run is None) == (kind.plan is None or kind.run_shard is None):
        raise ValueError(f"job kind {kind.name} needs either run, or plan and run_shard")
    KINDS[kind.name] = kind
    return kind


def kind_of(job: Job) -> JobKind:
    from study import job_kinds  # noqa: F401  (registers the kinds)

    try:
        return KINDS[job.kind]
    except KeyError:
        raise JobError(f"unknown job kind {job.kind!r}") from None


def output_dir(job: Job) -> Path:
    """The folder of a job's files (uploads it reads, files it writes for download)."""
    return Path(settings.JOBS_DIR) / str(job.pk)


def has_dropped_upload(job: Job) -> bool:
    """True if the job was started from uploaded files that are gone (see `drop_old_uploads`)."""
    uploaded = job.params.get("upload") or job.params.get("archive")
    return bool(uploaded) and not (output_dir(job) / UPLOAD).exists()


def drop_old_uploads(now=None) -> list[int]:
    """Remove the uploaded files of failed and cancelled jobs that ended more than JOB_UPLOAD_KEEP_DAYS
    ago (kept until then for Retry); returns those jobs' ids. Run daily by Celery beat."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.JOB_UPLOAD_KEEP_DAYS)
    dropped = []
    for job in Job.objects.filter(state__in=[State.FAILED, State.CANCELLED], finished_at__lt=cutoff):
        folder = output_dir(job) / UPLOAD
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            dropped.append(job.pk)
    if dropped:
        log.warning("removed the uploads of %d job(s) ended over %d days ago", len(dropped),
                    settings.JOB_UPLOAD_KEEP_DAYS)
    return dropped


# ---------------------------------------------------------------------------------------------
# Starting, cancelling, retrying (web and command side)


def enqueue(kind: str, params: dict, user=None, claim: str | None = None) -> Job:
    """Create a queued job and send it to the workers once the current transaction commits. A `claim`
    (e.g. "study:SLUG") is held by one queued or running job at a time: JobClaimed for a second one."""
    from study import job_kinds  # noqa: F401

    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r}; choose from {', '.join(sorted(KINDS))}")
    try:
        with transaction.atomic():
            job = Job.objects.create(kind=kind, params=params, started_by=user, claim=claim,
                                     message="waiting for a worker")
    except IntegrityError:
        raise JobClaimed(_claimed(claim)) from None
    transaction.on_commit(lambda: _send(job))
    return job


def _claimed(claim: str) -> str:
    holder = Job.objects.filter(claim=claim, state__in=Job.ACTIVE).first()
    return f"{claim} is taken by job {holder.pk if holder else '(just finished)'}, which is queued or running"


def _send(job: Job, shard: int | None = None) -> None:
    from study import tasks

    if shard is None:
        tasks.run_job.apply_async((job.pk,), queue=kind_of(job).queue)
    else:
        tasks.run_shard.apply_async((job.pk, shard), queue="gpu")


def cancel(job: Job) -> bool:
    """Cancel a queued or running job; a running one stops at its next progress report."""
    changed = Job.objects.filter(pk=job.pk, state__in=Job.ACTIVE).update(
        state=State.CANCELLED, message="cancelled", finished_at=timezone.now())
    return bool(changed)


def retry(job: Job) -> Job:
    """Queue a failed or cancelled job again, as it was (maps already in the cache are not computed again)."""
    if has_dropped_upload(job):
        days = settings.JOB_UPLOAD_KEEP_DAYS
        raise JobError(f"the files uploaded for job {job.pk} were removed {days} days after it ended; "
                       "start a new one with the files")
    try:
        with transaction.atomic():
            changed = Job.objects.filter(pk=job.pk, state__in=[State.FAILED, State.CANCELLED]).update(
                state=State.QUEUED, error="", message="waiting for a worker", progress=0, items_done=0,
                items_total=0, started_at=None, finished_at=None, heartbeat_at=None, attempts=0,
                shards_total=0, shards_done=[], shards_running={}, worker="")
    except IntegrityError:
        raise JobClaimed(_claimed(job.claim)) from None
    if not changed:
        raise JobError(f"only a failed or cancelled job can be retried; job {job.pk} is {job.state}")
    transaction.on_commit(lambda: _send(job))
    return job


# ---------------------------------------------------------------------------------------------
# Running (worker side)


class Reporter:
    """`report(done, total, message)`: write a job's progress and heartbeat; raises JobCancelled when the
    job is no longer running (cancelled by a researcher, or failed elsewhere)."""

    def __init__(self, job: Job, shard: int | None = None):
        self.job, self.shard = job, shard

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = timezone.now()
        fields = {"heartbeat_at": now}
        if self.shard is None:
            total = max(total, done)
            fields.update(items_done=done, items_total=total, progress=done / total if total else 0.0,
                          message=clean_message(message, 500))
        else:  # a shard: its own count in the message; the job's fraction counts finished shards
            shards = self.job.shards_total
            own = message or f"shard {self.shard + 1} of {shards}: {done} of {total} images"
            fields["message"] = clean_message(own, 500)
            if shards == 1 and total:
                fields["progress"] = done / total
        if not Job.objects.filter(pk=self.job.pk, state=State.RUNNING).update(**fields):
            raise JobCancelled(f"job {self.job.pk} is no longer running")


def execute(job_id: int, worker: str) -> None:
    """Claim a queued job (or one re-delivered after its worker died) and run it."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state not in Job.ACTIVE:
            return
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            _fail(job, f"gave up after {job.attempts} attempts: the worker running it stopped each time "
                       "(killed, out of memory, or the machine went away)")
            return
        job.state, job.worker, job.attempts = State.RUNNING, worker, job.attempts + 1
        job.started_at, job.heartbeat_at = job.started_at or timezone.now(), timezone.now()
        job.message = "running"
        job.save()
    report = Reporter(job)
    try:
        kind = kind_of(job)
        if kind.run is not None:
            _done(job, kind.run(job, report) or {})
            return
        shards = kind.plan(job)
        Job.objects.filter(pk=job.pk).update(shards_total=len(shards), items_total=len(shards))
        job.refresh_from_db()
        todo = [i for i in range(len(shards)) if i not in job.shards_done]
        report(len(job.shards_done), len(shards), f"{len(todo)} of {len(shards)} shards to do")
        if not todo:
            _finish_shards(job, kind, report)
        for index in todo:
            transaction.on_commit(lambda index=index: _send(job, index))
    except JobCancelled:
        log.info("job %s stopped: cancelled", job.pk)
    except Exception as error:  # the job's error is shown on its page
        log.exception("job %s failed", job.pk)
        _fail(job, _describe(error))


def execute_shard(job_id: int, index: int, worker: str) -> None:
    """Run shard `index` of a split job unless it is done or the job has stopped; the last one to
    finish runs the kind's `finish`."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.state != State.RUNNING or index in job.shards_done:
            return
        job.shards_running = {**job.shards_running, str(index): worker}
        job.save(update_fields=["shards_running"])
    kind = kind_of(job)
    report = Reporter(job, shard=index)
    try:
        kind.run_shard(job, kind.plan(job)[index], report)
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job_id)
            if job.state != State.RUNNING:
                return
            job.shards_done = sorted({*job.shards_done, index})
            job.shards_running = {k: v for k, v in job.shards_running.items() if k != str(index)}
            job.items_done, job.items_total = len(job.shards_done), job.shards_total
            job.progress = len(job.shards_done) / max(1, job.shards_total)
            job.message = f"{len(job.shards_done)} of {job.shards_total} shards done"
            job.heartbeat_at = timezone.now()
            job.save()
            last = len(job.shards_done) == job.shards_total
        if last:
            _finish_shards(job, kind, Reporter(job))
    except JobCancelled:
        log.info("job %s shard %s stopped: cancelled", job_id, index)
    except Exception as error:
        log.exception("job %s shard %s failed", job_id, index)
        _fail(job, f"shard {index + 1} of {job.shards_total}: {_describe(error)}")


def _finish_shards(job: Job, kind: JobKind, report: Reporter) -> None:
    _done(job, kind.finish(job, report) if kind.finish else {})


def _done(job: Job, result: dict) -> None:
    Job.objects.filter(pk=job.pk, state=State.RUNNING).update(
        state=State.DONE, progress=1.0, items_done=F("items_total"), message="done", result=result,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(), shards_running={})


def _fail(job: Job, error: str) -> None:
    Job.objects.filter(pk=job.pk, state__in=Job.ACTIVE).update(
        state=State.FAILED, error=clean_message(error) or "failed", message="failed",
        finished_at=timezone.now(), shards_running={})


def clean_message(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` as a job row can store and a page can show, in at most `limit` characters: control characters
    (a NUL from an uploaded file would make PostgreSQL refuse the row) become U+FFFD, line breaks and
    tabs stay, and a longer text is cut with a note."""
    cleaned = CONTROL_CHARACTERS.sub("\ufffd", text)
    if len(cleaned) <= limit:
        return cleaned
    note = f" ... ({len(cleaned):,} characters in all)"
    return cleaned[:limit - len(note)] + note


def _describe(error: BaseException) -> str:
    """What a failed job's page shows: an error raised on purpose by the project's packages in its own
    words; any other (a bug) by its type and first words only, its traceback being in the worker's log."""
    text = str(error)
    if type(error).__module__.split(".")[0] in PROJECT_PACKAGES and text:
        return text
    detail = f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__
    return f"an unexpected error stopped the job ({detail}); the details are in the worker's log"


# ---------------------------------------------------------------------------------------------
# Lost workers


def requeue_lost(worker: str | None = None) -> list[int]:
    """Re-queue the work of dead workers: everything `worker` was running (it has just restarted),
    and every running job silent for longer than JOB_STALE_SECONDS. Returns the job ids touched."""
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    touched = []
    for job in Job.objects.filter(state=State.RUNNING):
        lost_shards = [int(i) for i, w in job.shards_running.items() if worker and w == worker]
        silent = job.heartbeat_at is None or job.heartbeat_at < stale
        if not (silent or lost_shards or (worker and job.worker == worker and not job.shards_total)):
            continue
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=job.pk)
            if job.state != State.RUNNING:
                continue
            if job.attempts >= settings.JOB_MAX_ATTEMPTS:
                _fail(job, f"the worker running it stopped {job.attempts} times (killed, out of memory, or "
                           "the machine went away); retry it when the workers are healthy")
                continue
            if job.shards_total and not silent:  # only the shards of the dead worker go back on the queue
                job.shards_running = {k: v for k, v in job.shards_running.items()
                                      if int(k) not in lost_shards}
                job.attempts += 1
                job.message = f"a worker died; {len(lost_shards)} shard(s) queued again"
                job.save()
                for index in lost_shards:
                    transaction.on_commit(lambda index=index, job=job: _send(job, index))
            else:
                job.state, job.shards_running = State.QUEUED, {}
                job.message = "its worker died; queued again"
                job.save()
                transaction.on_commit(lambda job=job: _send(job))
        touched.append(job.pk)
    return touched


def staging_prefix(job: Job, what: str) -> str:
    """The start of the name of a temporary folder (under TMP_DIR) that `job`'s current run works in."""
    return f"job-{job.pk}-{job.attempts}-{what}-"


def remove_dead_staging() -> list[Path]:
    """Remove the temporary folders (see `staging_prefix`) of runs that are over: their job is not running,
    or runs again in a later attempt (its worker died). Run when a worker starts, after `requeue_lost`;
    returns what was removed."""
    named = [(entry, STAGING_NAME.match(entry.name)) for entry in tmp_dir().iterdir()]  # before the rows
    runs = {entry: (int(match[1]), int(match[2])) for entry, match in named if match}
    live = set(Job.objects.filter(pk__in={job_id for job_id, _ in runs.values()}, state=State.RUNNING)
               .values_list("pk", "attempts"))
    removed = []
    for entry, run in runs.items():
        if run in live:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    if removed:
        log.warning("removed %d temporary folder(s) of job runs whose worker died", len(removed))
    return removed
