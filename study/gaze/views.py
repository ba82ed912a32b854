"""Researcher pages for gaze data sets: list, upload (zip or files, with a progress bar), a data
set's stimuli in a grid, and one stimulus beside its GFDM and each method's map with scores.

Gaze data is research data: every page and file here is for staff only (`researcher_required`), and
each data set for its owner, those it is shared with, and superusers (study.access); others get 404.
Uploading needs the "add gaze dataset" permission.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from study import jobs
from study.access import allowed, researcher_required, visible
from study.archives import Problem
from study.gaze.forms import GazeUploadForm
from study.models import Access, GazeDataset, GazeStimulus
from study.uploads import LimitedUploadHandler, enqueue_with_uploads, size_limited_upload


@require_safe
@researcher_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    return render(request, "gaze/list.html", {"datasets": _datasets(request)})


def _datasets(request: HttpRequest):
    return visible(GazeDataset.objects.all(), request.user)


@size_limited_upload("GAZE_UPLOAD_MAX_BYTES", "study.add_gazedataset",
                     "Uploading gaze data needs the 'add gaze dataset' permission.")
def upload(request: HttpRequest, handler: LimitedUploadHandler) -> HttpResponse:
    """The upload page; a valid POST stores the zip archive, or the stimuli, maps and fixation table (as a
    folder laid out like `import_gaze`'s), in a new "gaze_import" job's folder and answers with the job's
    page. The request checks only the form's values and file names; every check of the data runs in the
    job, all or nothing."""
    if request.method != "POST":
        return render(request, "gaze/upload.html", _upload_context())
    form = GazeUploadForm(request.POST, request.FILES)
    if handler.exceeded:
        problems = [
            Problem(
                "(upload)", f"upload is larger than the limit of {settings.GAZE_UPLOAD_MAX_BYTES:,} bytes"
            )
        ]
    elif form.is_valid():
        params, uploads = form.job_inputs(request.user.pk)
        job = enqueue_with_uploads("gaze_import", params, request.user, uploads)
        url = reverse("job-detail", args=[job.pk])
        if request.headers.get("x-requested-with") == "XMLHttpRequest":
            return JsonResponse({"redirect": url})
        return redirect(url)
    else:
        problems = form.problems()
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
