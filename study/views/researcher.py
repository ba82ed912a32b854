"""Researcher pages: the study list, a study's dashboard and its CSV exports.

Only staff users (``is_staff``) see them, the same people who may use the admin; anyone
else who is logged in gets 403, and anonymous visitors are sent to the login page. A staff
user sees the studies they own or that are shared with them (study.access); others are 404.
"""

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from study.access import allowed, visible
from study.forms import StudySettingsForm
from study.models import Access, Participant, Study
from study.services import dashboard, export, flow, planning


def researcher_required(view: Callable) -> Callable:
    """Login required; logged-in users who are not staff get 403."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("Researcher pages are for staff users.")
        return view(request, *args, **kwargs)

    return wrapped


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
    return render(request, "study/researcher/study_list.html", {"rows": rows})


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
    return render(request, "study/researcher/dashboard.html", {
        "summary": dashboard.summarize(study), "plan_form": plan_form, "plan": plan, "plan_error": plan_error,
        "settings_form": settings_form or StudySettingsForm(instance=study),
        "can_edit": allowed(request.user, study, Access.EDIT),
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
        participant = flow.start_preview(study, form.cleaned_data["arm"])
    except flow.FlowError as error:
        return HttpResponse(str(error), status=error.status, content_type="text/plain; charset=utf-8")
    return redirect("participant-page", token=participant.token)


@researcher_required
def export_file(request: HttpRequest, slug: str, table: str, fmt: str) -> StreamingHttpResponse:
    """trials or participants, as CSV (safe to open in a spreadsheet) or Parquet (exact values)."""
    study = _study(request, slug)
    if fmt == "csv":
        chunks = (chunk.encode() for chunk in export.EXPORTS[f"{table}.csv"](study))
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
