"""The study builder page (upload, model, arms): validates the form and starts the "build_study" job.
Logic lives in study.building.forms and study.building.builder."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from study import jobs
from study.building.builder import start_build
from study.building.forms import StudyBuilderForm
from study.uploads import LimitedUploadHandler, size_limited_upload


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
    return render(request, "building/build.html",
                  {"form": form, "max_bytes": settings.STUDY_UPLOAD_MAX_BYTES},
                  status=400 if form.is_bound else 200)
