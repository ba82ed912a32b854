"""Starting, cancelling and retrying jobs (the web and command side), and sending them to the workers.

The engine sends Celery tasks by name (`RUN_JOB`, `RUN_SHARD`: `study.tasks` names its tasks so) and never
imports the tasks module: a process that registered them (every Django process, see study.apps) calls
them through the registry, so Celery's eager mode runs them in place; any other sends the message."""
from __future__ import annotations

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from study.jobs.errors import JobClaimed, JobError
from study.jobs.files import has_dropped_upload
from study.jobs.registry import KINDS, kind_of
from study.models import Job

State = Job.State
RUN_JOB = "study.tasks.run_job"  # (job id): run a job, or plan a split one and send its shards
RUN_SHARD = "study.tasks.run_shard"  # (job id, shard index): run one shard, on the `gpu` queue


def enqueue(kind: str, params: dict, user=None, claim: str | None = None) -> Job:
    """Create a queued job and send it to the workers once the current transaction commits. A `claim`
    (e.g. "study:SLUG") is held by one queued or running job at a time: JobClaimed for a second one."""
    if kind not in KINDS:
        raise JobError(f"unknown job kind {kind!r}; choose from {', '.join(sorted(KINDS))}")
    try:
        with transaction.atomic():
            job = Job.objects.create(kind=kind, params=params, started_by=user, claim=claim,
                                     message="waiting for a worker")
    except IntegrityError:
        raise JobClaimed(_claimed(claim)) from None
    transaction.on_commit(lambda: send(job))
    return job


def _claimed(claim: str) -> str:
    holder = Job.objects.filter(claim=claim, state__in=Job.ACTIVE).first()
    return f"{claim} is taken by job {holder.pk if holder else '(just finished)'}, which is queued or running"


def send(job: Job, shard: int | None = None) -> None:
    """Send `job` (on its kind's queue), or its shard number `shard` (on the `gpu` queue), to the workers."""
    if shard is None:
        task = current_app.signature(RUN_JOB, args=(job.pk,), queue=kind_of(job).queue)
    else:
        task = current_app.signature(RUN_SHARD, args=(job.pk, shard), queue="gpu")
    task.apply_async()


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
    transaction.on_commit(lambda: send(job))
    return job
