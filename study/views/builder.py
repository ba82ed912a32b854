"""Researcher pages that run a study from the browser: the study builder (upload, model, arms; starts the
"build_study" job), a study's settings (on its page) and its analysis page (starts the "analysis" job,
shows the latest one's tables and figures). Logic lives in study.forms and study.services."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from study import jobs
from study.access import allowed
from study.forms import StudyBuilderForm, StudySettingsForm
from study.models import Access, Job
from study.services import analysis_page
from study.services.options import describe_distractors
from study.services.builder import start_build
from study.views.gaze import LimitedUploadHandler, size_limited_upload
from study.views.researcher import _study, researcher_required, study_dashboard


@size_limited_upload("STUDY_UPLOAD_MAX_BYTES", "study.add_study",
                     "Building a study needs the 'add study' permission.")
def build(request: HttpRequest, handler: LimitedUploadHandler) -> HttpResponse:
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    if request.method != "POST":
        form = StudyBuilderForm()
    else:
        form = StudyBuilderForm(request.POST, request.FILES)
        if handler.exceeded:
            limit = settings.STUDY_UPLOAD_MAX_BYTES
            form.add_error(None, f"The upload is larger than the limit of {limit:,} bytes.")
        elif form.is_valid():
            try:
                return redirect("job-detail", pk=start_build(form.cleaned_data, request.user).pk)
            except jobs.JobClaimed:
                form.add_error("slug", f"a build of {form.cleaned_data['slug']!r} is already queued or running; "
                                       "choose another slug or wait for it to end")
    return render(request, "study/researcher/build.html",
                  {"form": form, "max_bytes": settings.STUDY_UPLOAD_MAX_BYTES},
                  status=400 if form.is_bound else 200)


@require_POST
@researcher_required
def study_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the study's settings (edit access needed: viewers get 403) and go back to its page."""
    study = _study(request, slug)
    if not allowed(request.user, study, Access.EDIT):
        raise PermissionDenied("Changing a study's settings needs edit access to it.")
    form = StudySettingsForm(request.POST, instance=study)
    if form.is_valid():
        form.save()
        return redirect("researcher-dashboard", slug=study.slug)
    return study_dashboard(request, slug, settings_form=form)


@require_safe
@researcher_required
def analysis(request: HttpRequest, slug: str) -> HttpResponse:
    study = _study(request, slug)
    job = analysis_page.latest_analysis(study)
    running = Job.objects.filter(kind="analysis", params__study=study.slug, state__in=Job.ACTIVE).first()
    context = {"study": study, "job": job, "running": running, "p_methods": analysis_page.P_METHODS,
               "distractors": describe_distractors(study.provenance)}
    if job:
        files = analysis_page.analysis_files(job)
        context |= {"tables": analysis_page.shown_tables(job), "files": files,
                    "figures": [name for name in files if name.endswith(".png")]}
    return render(request, "study/researcher/analysis.html", context)


@require_POST
@researcher_required
def analysis_start(request: HttpRequest, slug: str) -> HttpResponse:
    study = _study(request, slug)
    try:
        job = analysis_page.start_analysis(study, request.user, request.POST.get("method", "auto"))
    except jobs.JobError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    return redirect("job-detail", pk=job.pk)


@require_safe
@researcher_required
def analysis_file(request: HttpRequest, slug: str, pk: int, name: str) -> FileResponse:
    """A file of one of the study's finished analysis jobs; PNGs inline (for the page), others downloaded."""
    study = _study(request, slug)
    job = get_object_or_404(Job, pk=pk, kind="analysis", params__study=study.slug, state=Job.State.DONE)
    path = analysis_page.analysis_file(job, name)
    if path is None:
        raise Http404("no such file")
    response = FileResponse(path.open("rb"), as_attachment=not name.endswith(".png"), filename=name)
    response["Cache-Control"] = "private, no-store"
    return response
