"""Jobs: heavy work as a `Job` row run by Celery workers (the tasks in `study.tasks`).

A view or command validates its input and calls `enqueue`; a worker claims the job and calls its
kind's `run` (the same service function the management command runs in the foreground), or runs a
split kind shard by shard. The engine knows no kind: `study.job_kinds` registers them when the app is
ready, and it imports no service and sends its tasks by name.

  errors     JobCancelled, JobError, JobClaimed
  registry   JobKind, register, kind_of
  queue      enqueue, cancel, retry (and sending to the workers)
  run        execute, execute_shard, Reporter (the worker side)
  recovery   requeue_lost, remove_dead_staging, drop_old_uploads
  files      output_dir, UPLOAD, staging_prefix, has_dropped_upload
  messages   clean_message (and how a failed job's error is worded)
"""
from study.jobs.errors import JobCancelled, JobClaimed, JobError
from study.jobs.files import UPLOAD, has_dropped_upload, output_dir, staging_prefix
from study.jobs.messages import clean_message
from study.jobs.queue import cancel, enqueue, retry
from study.jobs.recovery import drop_old_uploads, remove_dead_staging, requeue_lost
from study.jobs.registry import KINDS, JobKind, kind_of, register
from study.jobs.run import Reporter, execute, execute_shard

__all__ = [
    "KINDS", "UPLOAD", "JobCancelled", "JobClaimed", "JobError", "JobKind", "Reporter", "cancel",
    "clean_message", "drop_old_uploads", "enqueue", "execute", "execute_shard", "has_dropped_upload",
    "kind_of", "output_dir", "register", "remove_dead_staging", "requeue_lost", "retry", "staging_prefix",
]
