"""Where a job's files live: its folder under JOBS_DIR (what a researcher uploaded, what it wrote for
download), and the names of the temporary folders under TMP_DIR that a run works in."""
from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from study.models import Job

UPLOAD = "upload"  # the job folder's sub-folder for the files a researcher sent (a zip, a checkpoint)
STAGING_NAME = re.compile(r"job-(\d+)-(\d+)-")  # a run's temporary folder: job-<id>-<attempt>-<what>-...


def output_dir(job: Job) -> Path:
    """The folder of a job's files (uploads it reads, files it writes for download)."""
    return Path(settings.JOBS_DIR) / str(job.pk)


def has_dropped_upload(job: Job) -> bool:
    """True if the job was started from uploaded files that are gone (see `drop_old_uploads`)."""
    uploaded = job.params.get("upload") or job.params.get("archive")
    return bool(uploaded) and not (output_dir(job) / UPLOAD).exists()


def staging_prefix(job: Job, what: str) -> str:
    """The start of the name of a temporary folder (under TMP_DIR) that `job`'s current run works in:
    job-<id>-<attempt>-<what>- (`STAGING_NAME`)."""
    return f"job-{job.pk}-{job.attempts}-{what}-"
