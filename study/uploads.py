"""The one upload path of the researcher pages (gaze data sets, the study builder).

A page is wrapped in `size_limited_upload`: a body declared past its limit is refused before it is read,
a body read past it stops the `LimitedUploadHandler`, and one shorter than declared keeps no file. The page
validates its form and calls `enqueue_with_uploads`, which queues the job that does the work with the
uploads moved into the job's folder (streamed uploads are moved, never read into memory).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from study import jobs
from study.access import researcher_required
from study.middleware import max_request_bytes, refusal
from study.models import Job

SHORT_BODY = "The upload ended before its declared size (Content-Length); nothing was kept. Please try again."


class LimitedUploadHandler(FileUploadHandler):
    """Stops reading a request body once it passes `limit` bytes (checked on Content-Length first)."""

    def __init__(self, request: HttpRequest, limit: int):
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.exceeded = content_length > self.limit

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.exceeded or self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def body_ended_early(request: HttpRequest) -> bool:
    """True when the client sent fewer bytes than its Content-Length declared (it closed the connection)."""
    stream = getattr(request, "_stream", None)
    return getattr(stream, "_pos", 0) < getattr(stream, "limit", 0)


def size_limited_upload(limit_setting: str, permission: str, refused: str) -> Callable:
    """Make `view(request, handler)` a researcher's upload page: a body declared past the setting
    `limit_setting` (bytes) gets 413 before it is read, a user without `permission` gets 403 (`refused`),
    a body shorter than declared gets 400 with no file kept, and the CSRF check runs once the
    LimitedUploadHandler is in place (`handler.exceeded` tells the view that the body passed the limit)."""

    def decorate(view: Callable) -> Callable:
        protected = csrf_protect(view)

        @max_request_bytes(limit_setting)
        @csrf_exempt  # checked by `protected`, after the size-limiting upload handler is in place
        @researcher_required
        @wraps(view)
        def page(request: HttpRequest) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied(refused)
            handler = LimitedUploadHandler(request, getattr(settings, limit_setting))
            request.upload_handlers.insert(0, handler)
            try:
                uploads = list(request.FILES.values())  # the body is read here, through the handler
            except OSError:  # the connection broke off mid-body
                return refusal(request, 400, SHORT_BODY)
            if body_ended_early(request):
                for upload in uploads:
                    upload.close()  # removes a streamed upload's temporary file
                return refusal(request, 400, SHORT_BODY)
            return protected(request, handler)

        return page

    return decorate


def save_upload(upload: UploadedFile, path: Path) -> None:
    """Move a streamed upload's temporary file to `path` (or write a small in-memory one in chunks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(upload, "temporary_file_path"):
        shutil.move(upload.temporary_file_path(), path)
        return
    with open(path, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)


def enqueue_with_uploads(
    kind: str, params: dict, user, uploads: Mapping[str, UploadedFile], *, claim: str | None = None,
    then: Callable[[Job, Path], None] | None = None,
) -> Job:
    """Queue a job of `kind` (study.jobs.enqueue) with `uploads` (relative path -> upload) saved into its
    upload folder, then `then(job, folder)` run (to add files or params); the job is sent to the workers
    once all of it is in place. If anything fails the job's folder is removed and no job is queued."""
    with transaction.atomic():
        job = jobs.enqueue(kind, params, user, claim=claim)
        folder = jobs.output_dir(job) / jobs.UPLOAD
        try:
            for name, upload in uploads.items():
                save_upload(upload, folder / name)
            if then is not None:
                then(job, folder)
        except BaseException:
            shutil.rmtree(jobs.output_dir(job), ignore_errors=True)
            raise
    return job
