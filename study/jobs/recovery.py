"""What dead workers and old jobs leave behind: the work of a worker that died goes back on the queue
(when the same worker restarts, or once its heartbeat is older than JOB_STALE_SECONDS) up to
JOB_MAX_ATTEMPTS times, then fails with a clear message; the temporary folders of dead runs (named by
`staging_prefix`) are removed when a worker starts, those of live runs kept; the uploads of failed and
cancelled jobs are removed JOB_UPLOAD_KEEP_DAYS after they ended."""
from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from study.jobs.files import STAGING_NAME, UPLOAD, output_dir
from study.jobs.queue import send
from study.jobs.run import fail
from study.models import Job
from study.tmp import tmp_dir

log = logging.getLogger(__name__)
State = Job.State


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
                fail(job, f"the worker running it stopped {job.attempts} times (killed, out of memory, or "
                          "the machine went away); retry it when the workers are healthy")
                continue
            if job.shards_total and not silent:  # only the shards of the dead worker go back on the queue
                job.shards_running = {k: v for k, v in job.shards_running.items()
                                      if int(k) not in lost_shards}
                job.attempts += 1
                job.message = f"a worker died; {len(lost_shards)} shard(s) queued again"
                job.save()
                for index in lost_shards:
                    transaction.on_commit(lambda index=index, job=job: send(job, index))
            else:
                job.state, job.shards_running = State.QUEUED, {}
                job.message = "its worker died; queued again"
                job.save()
                transaction.on_commit(lambda job=job: send(job))
        touched.append(job.pk)
    return touched


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


def drop_old_uploads(now: datetime | None = None) -> list[int]:
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
