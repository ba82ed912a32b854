"""Running jobs (the worker side): claim a job, run its kind, write progress, end it done or failed.

A kind with `plan` is split into shards (`plan` -> one dict per shard) that run on the `gpu` queue, each
idempotent, any number at once on any number of workers; its `finish` runs when the last is done.
Progress is written after each batch; a cancelled job stops at the next report (`JobCancelled`)."""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from study.jobs.errors import JobCancelled
from study.jobs.messages import clean_message, describe
from study.jobs.queue import send
from study.jobs.registry import JobKind, kind_of
from study.models import Job

log = logging.getLogger(__name__)
State = Job.State


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
            fail(job, f"gave up after {job.attempts} attempts: the worker running it stopped each time "
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
            transaction.on_commit(lambda index=index: send(job, index))
    except JobCancelled:
        log.info("job %s stopped: cancelled", job.pk)
    except Exception as error:  # the job's error is shown on its page
        log.exception("job %s failed", job.pk)
        fail(job, describe(error))


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
        fail(job, f"shard {index + 1} of {job.shards_total}: {describe(error)}")


def _finish_shards(job: Job, kind: JobKind, report: Reporter) -> None:
    _done(job, kind.finish(job, report) if kind.finish else {})


def _done(job: Job, result: dict) -> None:
    Job.objects.filter(pk=job.pk, state=State.RUNNING).update(
        state=State.DONE, progress=1.0, items_done=F("items_total"), message="done", result=result,
        finished_at=timezone.now(),
        heartbeat_at=timezone.now(), shards_running={})


def fail(job: Job, error: str) -> None:
    """End a queued or running job as failed with `error` (cleaned, as its page shows it)."""
    Job.objects.filter(pk=job.pk, state__in=Job.ACTIVE).update(
        state=State.FAILED, error=clean_message(error) or "failed", message="failed",
        finished_at=timezone.now(), shards_running={})
