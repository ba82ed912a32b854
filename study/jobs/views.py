"""Researcher pages for jobs: the list, a job's page (live progress from `status`), cancel, retry and
the files a job wrote. A researcher sees the jobs they started; superusers see every job."""
from __future__ import annotations

import base64
import hashlib

from csp.decorators import csp_update
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from analysis.gaze_figures import REPORT_STYLE
from study import jobs
from study.models import Job
from study.access import researcher_required


# the CSP source of the HTML reports' one inline style block (analysis.gaze_figures.html_report)
REPORT_STYLE_SOURCE = f"'sha256-{base64.b64encode(hashlib.sha256(REPORT_STYLE.encode()).digest()).decode()}'"


def visible_jobs(request: HttpRequest):
    queryset = Job.objects.select_related("started_by")
    return queryset if request.user.is_superuser else queryset.filter(started_by=request.user)


@require_safe
@researcher_required
def job_list(request: HttpRequest) -> HttpResponse:
    jobs.requeue_lost()
    return render(request, "jobs/list.html", {"jobs": visible_jobs(request)[:200]})


@require_safe
@researcher_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_jobs(request), pk=pk)
    try:
        label = jobs.kind_of(job).label
    except jobs.JobError:
        label = job.kind
    return render(request, "jobs/detail.html", {"job": job, "label": label})


@require_safe
@researcher_required
def job_status(request: HttpRequest, pk: int) -> JsonResponse:
    jobs.requeue_lost()  # a job whose worker died shows as queued again (or failed)
    job = get_object_or_404(visible_jobs(request), pk=pk)
    return JsonResponse({"state": job.state, "progress": job.progress, "done": job.items_done,
                         "total": job.items_total, "message": job.message, "error": job.error,
                         "active": job.active, "result": job.result})


@require_POST
@researcher_required
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    jobs.cancel(get_object_or_404(visible_jobs(request), pk=pk))
    return redirect("job-detail", pk=pk)


@require_POST
@researcher_required
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_jobs(request), pk=pk)
    try:
        jobs.retry(job)
    except jobs.JobError as error:
        return HttpResponse(str(error), status=409, content_type="text/plain")
    return redirect("job-detail", pk=pk)


@require_safe
@researcher_required
@csp_update({"style-src": REPORT_STYLE_SOURCE, "sandbox": True})
def job_file(request: HttpRequest, pk: int, name: str) -> FileResponse:
    """A file the job wrote: an HTML report opens in the browser (the site's CSP, sandboxed: no script
    runs, only the report's own style applies), anything else downloads."""
    job = get_object_or_404(visible_jobs(request), pk=pk)
    folder = (jobs.output_dir(job) / "files").resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        raise Http404("no such file")
    if path.suffix == ".html":
        return FileResponse(path.open("rb"), filename=name, content_type="text/html; charset=utf-8")
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)
