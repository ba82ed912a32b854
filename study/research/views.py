"""Researcher pages: the study list, a study's dashboard, settings, preview, exports and analysis page.

Only staff users (``is_staff``) see them, the same people who may use the admin; anyone
else who is logged in gets 403, and anonymous visitors are sent to the login page. A staff
user sees the studies they own or that are shared with them (study.access); others are 404.
"""

from __future__ import annotations

from dataclasses import asdict

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import (FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBadRequest,
                         StreamingHttpResponse)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from study import jobs
from study.access import allowed, researcher_required, visible
from study.building import planning
from study.building.options import describe_distractors
from study.models import Access, Job, Participant, Study
from study.research import analysis_page, dashboard, export
from study.research.clicks import clicks_csv
from study.gaze.options import ImportOptions
from study.research.forms import ClicksGazeForm, StudySettingsForm
from study.survey import enrolment, errors
from study.survey.designs import DESIGNS, design_of


@researcher_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = visible(Study.objects.all(), request.user).annotate(
        n_arms=Count("arms", distinct=True),
        n_items=Count("items", distinct=True),
    ).order_by("-created_at")
    counts = {
        study_id: (started, completed)
        for study_id, started, completed in Participant.objects.filter(study__in=studies.values("pk"),
                                                                       is_preview=False)
        .values_list("study")
        .annotate(started=Count("pk"), completed=Count("pk", filter=Q(status=Participant.Status.COMPLETED)))
        .order_by()
    }
    rows = [(study, *counts.get(study.pk, (0, 0))) for study in studies]
    return render(request, "research/study_list.html", {"rows": rows})


def _study(request: HttpRequest, slug: str) -> Study:
    """The study with this slug if the user may see it; 404 otherwise (whether or not it exists)."""
    return get_object_or_404(visible(Study.objects.all(), request.user), slug=slug)


@researcher_required
def study_dashboard(request: HttpRequest, slug: str, settings_form: StudySettingsForm | None = None
                    ) -> HttpResponse:
    """The study's page: counts, exports, planning and its settings (a bound `settings_form` with errors
    is shown with status 400)."""
    study = _study(request, slug)
    plan_form, plan, plan_error = planning.plan_from_query(request.GET)
    return render(request, "research/dashboard.html", {
        "summary": dashboard.summarize(study), "plan_form": plan_form, "plan": plan, "plan_error": plan_error,
        "settings_form": settings_form or StudySettingsForm(instance=study),
        "can_edit": allowed(request.user, study, Access.EDIT),
        "design_note": design_of(study).describe(study.design_options),
        "attention_block_note": (DESIGNS[Study.Design.ATTENTION].describe(study.attention_block)
                                 if study.attention_block else ""),
        "clicks_gaze_form": ClicksGazeForm(initial={"name": f"{study.slug}-clicks"}),
    }, status=400 if settings_form else 200)


class PreviewForm(forms.Form):
    arm = forms.IntegerField(min_value=1, max_value=2**63 - 1)  # a primary key


@researcher_required
@require_POST
def study_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a preview of the study (any status) in the chosen arm; the preview counts nowhere."""
    study = _study(request, slug)
    form = PreviewForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose an arm of the study to preview.")
    try:
        participant = enrolment.start_preview(study, form.cleaned_data["arm"])
    except errors.FlowError as error:
        return HttpResponse(str(error), status=error.status, content_type="text/plain; charset=utf-8")
    return redirect("participant-page", token=participant.token)


@researcher_required
def export_file(request: HttpRequest, slug: str, table: str, fmt: str) -> StreamingHttpResponse:
    """trials or participants, as CSV (safe to open in a spreadsheet) or Parquet (exact values)."""
    study = _study(request, slug)
    if table == "clicks" and not study.collects_clicks:
        raise Http404("Only an attention study, or one with an attention block, has clicks.")
    if fmt == "csv":
        exports = export.EXPORTS | {"clicks.csv": clicks_csv}
        chunks = (chunk.encode() for chunk in exports[f"{table}.csv"](study))
        content_type = "text/csv; charset=utf-8"
    else:
        chunks = [export.parquet_bytes(export.FRAMES[table](study))]
        content_type = "application/vnd.apache.parquet"
    return StreamingHttpResponse(
        chunks,
        content_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{study.slug}-{table}.{fmt}"',
            "Cache-Control": "private, no-store",
        },
    )


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


@require_POST
@researcher_required
def clicks_gaze_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Queue a "clicks_gaze" job: the study's clicks as a gaze data set owned by the researcher; 400 with
    the reasons for a bad name or sigma."""
    study = _study(request, slug)
    if not study.collects_clicks:
        raise Http404("Only an attention study, or one with an attention block, has clicks.")
    form = ClicksGazeForm(request.POST)
    if not form.is_valid():
        reasons = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in form.errors.items())
        return HttpResponse(reasons, status=400, content_type="text/plain")
    name = form.cleaned_data["name"]
    options = ImportOptions(sigma_px=form.cleaned_data["sigma_px"], task=f"clicks in study {study.slug}",
                            owner_id=request.user.pk)
    job = jobs.enqueue("clicks_gaze", {"study": study.slug, "name": name, "options": asdict(options)},
                       request.user, claim=f"gaze:{name}")
    return redirect("job-detail", pk=job.pk)


@require_safe
@researcher_required
def analysis(request: HttpRequest, slug: str) -> HttpResponse:
    study = _study(request, slug)
    job = analysis_page.latest_analysis(study)
    running = Job.objects.filter(kind="analysis", params__study=study.slug, state__in=Job.ACTIVE).first()
    context = {"study": study, "job": job, "running": running, "p_methods": analysis_page.P_METHODS,
               "distractors": describe_distractors(study.provenance)
               if study.design == Study.Design.SIMULATION else ""}
    if job:
        files = analysis_page.analysis_files(job)
        context |= {"tables": analysis_page.shown_tables(job), "files": files,
                    "figures": [name for name in files if name.endswith(".png")]}
    return render(request, "research/analysis.html", context)


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
