"""Celery tasks: thin wrappers around `study.jobs`, found by the app's autodiscovery and imported when the
app is ready (study.apps), so that every process knows them by the names the engine sends.

acks_late: a task's message is acknowledged only when it ends, so a message whose worker died is
delivered again (by Redis after the visibility timeout); the job's claim makes that harmless."""
from __future__ import annotations

import logging
import os
import socket

from celery import shared_task
from celery.signals import worker_ready
from django.db import DatabaseError

from study import jobs
from study.jobs.queue import RUN_JOB, RUN_SHARD
from study.tmp import sweep_stale

log = logging.getLogger(__name__)


def _worker(task) -> str:
    return task.request.hostname or f"{socket.gethostname()}:{os.getpid()}"


@shared_task(name=RUN_JOB, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: int) -> None:
    jobs.execute(job_id, _worker(self))


@shared_task(name=RUN_SHARD, bind=True, acks_late=True, reject_on_worker_lost=True)
def run_shard(self, job_id: int, index: int) -> None:
    jobs.execute_shard(job_id, index, _worker(self))


@shared_task
def sweep_tmp() -> int:
    """Remove what killed processes left in the app's temporary folder (run hourly by beat); returns a
    count."""
    return len(sweep_stale())


@shared_task
def drop_old_uploads() -> int:
    """Remove the uploads of failed and cancelled jobs past JOB_UPLOAD_KEEP_DAYS (run daily by beat)."""
    return len(jobs.drop_old_uploads())


@worker_ready.connect
def requeue_after_restart(sender, **kwargs) -> None:
    """A worker starting under a name finds the jobs its previous life left running, and stale jobs, and
    removes the temporary folders of runs that died."""
    try:
        jobs.requeue_lost(sender.hostname)
        jobs.remove_dead_staging()
    except (DatabaseError, OSError) as error:  # e.g. not migrated yet: the worker still serves
        log.warning("could not look for lost jobs at start-up: %s", error)
