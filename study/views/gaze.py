"""Researcher pages for gaze data sets: list, upload (zip or files, with a progress bar), a data
set's stimuli in a grid, and one stimulus beside its GFDM and each method's map with scores.

Gaze data is research data: every page and file here is for staff only (`researcher_required`).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_safe

from study.models import GazeDataset, GazeStimulus
from study.services.gaze_import import (
    GazeImportError,
    ImportOptions,
    Problem,
    import_gaze,
    unpacked_limit,
    zip_entries,
)
from study.views.researcher import researcher_required


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


@require_safe
@researcher_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    return render(request, "study/gaze/list.html", {"datasets": GazeDataset.objects.all()})


@csrf_exempt  # checked by _upload, after the size-limiting upload handler is in place
@researcher_required
def upload(request: HttpRequest) -> HttpResponse:
    handler = LimitedUploadHandler(request, settings.GAZE_UPLOAD_MAX_BYTES)
    request.upload_handlers.insert(0, handler)
    return _upload(request, handler)


@csrf_protect
def _upload(request: HttpRequest, handler: LimitedUploadHandler) -> HttpResponse:
    if request.method != "POST":
        return render(request, "study/gaze/upload.html", _upload_context())
    request.FILES  # noqa: B018 -- parse the body now; the handler notes whether it passed the limit
    if handler.exceeded:
        problems = [
            Problem(
                "(upload)", f"upload is larger than the limit of {settings.GAZE_UPLOAD_MAX_BYTES:,} bytes"
            )
        ]
    else:
        try:
            dataset = _import_upload(request)
        except GazeImportError as error:
            problems = list(error.problems)
        else:
            url = reverse("gaze-dataset", args=[dataset.name])
            if request.headers.get("x-requested-with") == "XMLHttpRequest":
                return JsonResponse({"redirect": url})
            return redirect(url)
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        return JsonResponse(
            {"problems": [{"file": p.file, "problem": p.problem} for p in problems]}, status=400
        )
    return render(request, "study/gaze/upload.html", _upload_context(request.POST, problems), status=400)


def _upload_context(values=None, problems=()) -> dict:
    return {
        "values": values or {},
        "problems": problems,
        "max_bytes": settings.GAZE_UPLOAD_MAX_BYTES,
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }


def _import_upload(request: HttpRequest) -> GazeDataset:
    """Import the POSTed zip archive, or the POSTed stimuli, maps and fixation table."""
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
    )
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
    entries = {}
    for folder, uploaded in uploads.items():
        for file in uploaded:
            if folder + file.name in entries:
                problems.append(Problem(folder + file.name, "uploaded twice"))
            entries[folder + file.name] = file.read
    if problems:
        raise GazeImportError(problems)
    name = post.get("name", "").strip()
    if archive:
        with zip_entries(archive, archive.name, unpacked_limit()) as unpacked:
            return import_gaze(name, unpacked, options)
    return import_gaze(name, entries, options)


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

    dataset = get_object_or_404(GazeDataset, name=name)
    stimuli = dataset.stimuli.select_related("gaze_map", "fixations")
    context = {"dataset": dataset, "stimuli": stimuli, "report": dataset.last_report}
    context["method_names"] = ", ".join(m for m in LABELS if m != "pv")
    context["method_hint"] = ",".join(REVIEW_TABLE_1)
    return render(request, "study/gaze/dataset.html", context)


@require_safe
@researcher_required
def stimulus_detail(request: HttpRequest, name: str, stimulus: str) -> HttpResponse:
    row = get_object_or_404(
        GazeStimulus.objects.select_related("dataset", "gaze_map", "fixations"),
        dataset__name=name,
        name=stimulus,
    )
    return render(
        request,
        "study/gaze/stimulus.html",
        {"dataset": row.dataset, "stimulus": row, "report": row.dataset.report_for(row.name)},
    )


@require_safe
@researcher_required
def stimulus_file(
    request: HttpRequest, name: str, stimulus: str, kind: str, method: str = ""
) -> FileResponse:
    """The stimulus image (kind 'image'), its GFDM preview ('gfdm') or a method's map preview ('map')."""
    row = get_object_or_404(
        GazeStimulus.objects.select_related("dataset", "gaze_map"), dataset__name=name, name=stimulus
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
