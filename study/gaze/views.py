"""Researcher pages for gaze data sets: list, upload (zip or files, with a progress bar), a data
set's stimuli in a grid, and one stimulus beside its GFDM and each method's map with scores.

Gaze data is research data: every page and file here is for staff only (`researcher_required`), and
each data set for its owner, those it is shared with, and superusers (study.access); others get 404.
Uploading needs the "add gaze dataset" permission.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST, require_safe

from study import jobs
from study.access import allowed, visible
from study.middleware import max_request_bytes, refusal
from study.models import Access, GazeDataset, GazeStimulus, Job
from study.archives import Problem
from study.gaze.importer import GazeImportError, ImportOptions, option_problems
from study.gaze.layout import path_problem
from study.tmp import save_upload
from study.access import researcher_required


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


SHORT_BODY = "The upload ended before its declared size (Content-Length); nothing was kept. Please try again."


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


@require_safe
@researcher_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    return render(request, "gaze/list.html", {"datasets": _datasets(request)})


def _datasets(request: HttpRequest):
    return visible(GazeDataset.objects.all(), request.user)


@size_limited_upload("GAZE_UPLOAD_MAX_BYTES", "study.add_gazedataset",
                     "Uploading gaze data needs the 'add gaze dataset' permission.")
def upload(request: HttpRequest, handler: LimitedUploadHandler) -> HttpResponse:
    if request.method != "POST":
        return render(request, "gaze/upload.html", _upload_context())
    request.FILES  # noqa: B018 -- parse the body now; the handler notes whether it passed the limit
    if handler.exceeded:
        problems = [
            Problem(
                "(upload)", f"upload is larger than the limit of {settings.GAZE_UPLOAD_MAX_BYTES:,} bytes"
            )
        ]
    else:
        try:
            job = _enqueue_upload(request)
        except GazeImportError as error:
            problems = list(error.problems)
        else:
            url = reverse("job-detail", args=[job.pk])
            if request.headers.get("x-requested-with") == "XMLHttpRequest":
                return JsonResponse({"redirect": url})
            return redirect(url)
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return JsonResponse(
            {"problems": [{"file": p.file, "problem": p.problem} for p in problems]}, status=400
        )
    return render(request, "gaze/upload.html", _upload_context(request.POST, problems), status=400)


def _upload_context(values=None, problems=()) -> dict:
    return {
        "values": values or {},
        "problems": problems,
        "max_bytes": settings.GAZE_UPLOAD_MAX_BYTES,
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }


def _enqueue_upload(request: HttpRequest) -> Job:
    """Store the POSTed zip archive, or the POSTed stimuli, maps and fixation table (as a folder laid out
    like `import_gaze`'s), in a new job's folder and queue the job, which checks and imports them. The
    request checks only the form's values and file names; it reads no file: every check of the data
    runs in the job, all or nothing."""
    post, files = request.POST, request.FILES
    problems: list[Problem] = []
    options = ImportOptions(
        description=post.get("description", "").strip(),
        task=post.get("task", "").strip(),
        n_observers=_number(post, "n_observers", int, problems),
        pixels_per_degree=_number(post, "ppd", float, problems),
        sigma_px=_number(post, "sigma_px", float, problems),
        resample=post.get("resample") == "on",
        weight_by_duration=post.get("weight_by_duration") == "on",
        owner_id=request.user.pk,
    )
    problems.extend(option_problems(options))
    archive = files.get("archive")
    uploads = {
        "stimuli/": files.getlist("stimuli"),
        "fixation_maps/": files.getlist("maps"),
        "": files.getlist("table"),
    }
    if archive and any(uploads.values()):
        problems.append(Problem("(upload)", "upload either a zip archive or separate files, not both"))
    if not archive and not uploads["stimuli/"]:
        problems.append(
            Problem("(upload)", "choose a zip archive, or the stimuli and their maps or fixation table")
        )
    names = set()
    for folder, uploaded in uploads.items():
        for file in uploaded:
            if folder + file.name in names:
                problems.append(Problem(folder + file.name, "uploaded twice"))
            if file.name in {"", ".", ".."}:
                problems.append(Problem(folder + file.name, "has no usable file name"))
            elif why := path_problem(folder + file.name):
                problems.append(Problem(folder + file.name, why))
            names.add(folder + file.name)
    if problems:
        raise GazeImportError.of(problems)
    with transaction.atomic():  # the job is sent to the workers once its files are in place
        params = {"name": post.get("name", "").strip(), "options": asdict(options),
                  "upload": "archive.zip" if archive else "data",
                  "archive_name": archive.name if archive else ""}
        job = jobs.enqueue("gaze_import", params, request.user)
        folder = jobs.output_dir(job) / jobs.UPLOAD
        try:
            if archive:
                save_upload(archive, folder / "archive.zip")
            for prefix, uploaded in uploads.items():
                for file in uploaded:
                    save_upload(file, folder / "data" / prefix / file.name)
        except BaseException:
            shutil.rmtree(jobs.output_dir(job), ignore_errors=True)
            raise
    return job



def _number(post, field: str, kind: type, problems: list[Problem]):
    value = post.get(field, "").strip()
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        problems.append(
            Problem("(form)", f"{field} must be a{'n integer' if kind is int else ' number'}, not {value!r}")
        )
        return None


@require_safe
@researcher_required
def dataset_detail(request: HttpRequest, name: str) -> HttpResponse:
    from explainers.methods import LABELS, REVIEW_TABLE_1  # here, so the other pages do not load torch

    dataset = get_object_or_404(_datasets(request), name=name)
    stimuli = dataset.stimuli.select_related("gaze_map", "fixations")
    context = {"dataset": dataset, "stimuli": stimuli, "report": dataset.last_report,
               "can_edit": allowed(request.user, dataset, Access.EDIT)}
    context["method_names"] = ", ".join(m for m in LABELS if m != "pv")
    context["method_hint"] = ",".join(REVIEW_TABLE_1)
    return render(request, "gaze/dataset.html", context)


@require_POST
@researcher_required
def report_start(request: HttpRequest, name: str) -> HttpResponse:
    """Queue a gaze report of this data set (edit access: the report replaces the last one) for the posted
    bundled model and methods; answer with its job page. Other models: `manage.py gaze_report --model
    SPEC`."""
    from explainers import BUNDLED
    from study.gaze.report import GazeReportError, parse_methods

    dataset = get_object_or_404(_datasets(request), name=name)
    if not allowed(request.user, dataset, Access.EDIT):
        raise PermissionDenied("Making a report replaces the data set's last one: it needs edit access.")
    model = request.POST.get("model", "").strip()
    try:
        methods = parse_methods(request.POST.get("methods", ""))
    except GazeReportError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    if model != BUNDLED:
        return HttpResponse(f"model must be {BUNDLED} (a bundled model); reports with another model run from "
                            "the command line: manage.py gaze_report NAME --model SPEC", status=400,
                            content_type="text/plain")
    job = jobs.enqueue("gaze_report", {"dataset": dataset.name, "model": model, "methods": methods},
                       request.user)
    return redirect("job-detail", pk=job.pk)


@require_safe
@researcher_required
def stimulus_detail(request: HttpRequest, name: str, stimulus: str) -> HttpResponse:
    row = get_object_or_404(
        GazeStimulus.objects.select_related("dataset", "gaze_map", "fixations"),
        dataset__in=_datasets(request),
        dataset__name=name,
        name=stimulus,
    )
    return render(
        request,
        "gaze/stimulus.html",
        {"dataset": row.dataset, "stimulus": row, "report": row.dataset.report_for(row.name)},
    )


@require_safe
@researcher_required
def stimulus_file(
    request: HttpRequest, name: str, stimulus: str, kind: str, method: str = ""
) -> FileResponse:
    """The stimulus image (kind 'image'), its GFDM preview ('gfdm') or a method's map preview ('map')."""
    row = get_object_or_404(
        GazeStimulus.objects.select_related("dataset", "gaze_map"),
        dataset__in=_datasets(request),
        dataset__name=name,
        name=stimulus,
    )
    if kind == "image":
        relative = row.image.name
    elif kind == "gfdm" and hasattr(row, "gaze_map"):
        relative = row.gaze_map.preview.name
    elif kind == "map":
        relative = row.dataset.report_for(row.name).get("maps", {}).get(method, "")
    else:
        raise Http404("no such file")
    folder = (Path(settings.MEDIA_ROOT) / "gaze" / row.dataset.name).resolve()
    file = (Path(settings.MEDIA_ROOT) / relative).resolve()
    if not relative or not file.is_relative_to(folder) or not file.is_file():
        raise Http404("no such file")
    response = FileResponse(file.open("rb"))
    response["Cache-Control"] = "private, max-age=3600"
    return response
