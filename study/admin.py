"""Admin pages for studies, their arms and items, participants and trials.

What the participant flow writes (participants, trials, recruitment records) is research
data: here it can be viewed and deleted (e.g. on a withdrawal request), never edited.

Every page shows only the rows of the studies and gaze data sets the user may see (study.access),
and changes or deletes only those they may edit, on top of the user's model permissions.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from study.access import visible
from study.models import (
    Access,
    Arm,
    GazeDataset,
    GazeDatasetShare,
    GazeFixations,
    GazeMap,
    GazeStimulus,
    Item,
    Participant,
    QuestionnaireAnswer,
    QuestionnaireBlock,
    QuestionnaireQuestion,
    RecruitmentRecord,
    Stimulus,
    Study,
    StudyShare,
    Trial,
)


class ScopedAdmin(admin.ModelAdmin):
    """Rows reached through `scope_path` (a lookup to a Study or GazeDataset, "" for those models) that the
    user may see; change and delete only where they may edit."""

    scope_model: type = Study
    scope_path = "study"

    def _scoped(self, queryset, request, access: str):
        allowed = visible(self.scope_model.objects.all(), request.user, access)
        return queryset.filter(**{f"{self.scope_path}__in" if self.scope_path else "pk__in": allowed})

    def get_queryset(self, request):
        return self._scoped(super().get_queryset(request), request, Access.VIEW)

    def _may_edit(self, request, obj) -> bool:
        row = self.model.objects.filter(pk=obj.pk) if obj is not None else None
        return row is None or self._scoped(row, request, Access.EDIT).exists()

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and self._may_edit(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_edit(request, obj)

    def get_readonly_fields(self, request, obj=None):
        """Only superusers choose an owner (and so see the list of users); others own what they add."""
        fields = list(super().get_readonly_fields(request, obj))
        owned = any(field.name == "owner" for field in self.model._meta.fields)
        return fields + ["owner"] if owned and not request.user.is_superuser else fields


class ReadOnlyAdmin(ScopedAdmin):
    """View (and delete) only: rows written by the participant flow are never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0


class StudyShareInline(admin.TabularInline):
    model = StudyShare
    extra = 0


class QuestionnaireBlockInline(admin.TabularInline):
    """The study's questionnaire blocks; their questions are edited on each block's page (change link)."""

    model = QuestionnaireBlock
    extra = 0
    show_change_link = True


@admin.register(Study)
class StudyAdmin(ScopedAdmin):
    scope_path = ""
    list_display = [
        "slug",
        "title",
        "status",
        "assignment_policy",
        "question_order",
        "created_at",
        "dashboard",
    ]
    list_filter = ["status"]
    search_fields = ["slug", "title"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["assignments_made", "provenance"]
    inlines = [ArmInline, QuestionnaireBlockInline, StudyShareInline]

    def save_model(self, request, obj, form, change) -> None:
        if not change and obj.owner_id is None:
            obj.owner = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="dashboard")
    def dashboard(self, study: Study) -> str:
        return format_html('<a href="{}">dashboard</a>', reverse("researcher-dashboard", args=[study.slug]))


class StimulusInline(admin.TabularInline):
    model = Stimulus
    extra = 0


@admin.register(Item)
class ItemAdmin(ScopedAdmin):
    list_display = ["study", "position", "name", "model_prediction", "model_correct", "is_attention_check"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "model_correct", "is_attention_check"]
    list_select_related = ["study"]
    search_fields = ["name", "model_prediction"]
    inlines = [StimulusInline]


class QuestionnaireQuestionInline(admin.StackedInline):
    model = QuestionnaireQuestion
    extra = 0
    fields = [("position", "key", "kind", "required"), "text", "options", ("min_value", "max_value"),
              ("scale_points", "low_label", "high_label")]


@admin.register(QuestionnaireBlock)
class QuestionnaireBlockAdmin(ScopedAdmin):
    """A questionnaire block and its questions; only blocks of studies the user may see, and only studies
    they may edit to put one in."""

    list_display = ["study", "placement", "position", "title"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "placement"]
    list_select_related = ["study"]
    inlines = [QuestionnaireQuestionInline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "study":
            kwargs["queryset"] = visible(Study.objects.all(), request.user, Access.EDIT)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(QuestionnaireAnswer)
class QuestionnaireAnswerAdmin(ReadOnlyAdmin):
    scope_path = "participant__study"
    list_display = ["participant", "question", "value", "answered_at"]
    list_filter = [("participant__study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["participant__study", "question__block__study"]


class RecruitmentInline(admin.StackedInline):
    model = RecruitmentRecord
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ["pk", "study", "arm", "status", "outcome", "consented_at", "last_seen_at", "completed_at"]
    list_filter = [("study", admin.RelatedOnlyFieldListFilter), "arm__technique", "status", "is_preview"]
    list_select_related = ["study", "arm__study"]
    inlines = [RecruitmentInline]


@admin.register(Trial)
class TrialAdmin(ReadOnlyAdmin):
    scope_path = "participant__study"
    list_display = [
        "participant",
        "item",
        "presented_position",
        "chosen_option",
        "correct_guess",
        "rt_ms",
        "answered_at",
    ]
    list_filter = [("participant__study", admin.RelatedOnlyFieldListFilter), "participant__arm__technique"]
    list_select_related = ["participant__study", "item__study"]


@admin.register(RecruitmentRecord)
class RecruitmentRecordAdmin(ReadOnlyAdmin):
    scope_path = "participant__study"
    list_display = ["participant", "params", "session_ids"]
    list_filter = [("participant__study", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["participant__study"]


# Gaze data sets: imported with import_gaze or the upload page, never added or edited by hand
# (only the description fields of a data set); deleting a data set deletes its rows.


class GazeDatasetShareInline(admin.TabularInline):
    model = GazeDatasetShare
    extra = 0


@admin.register(GazeDataset)
class GazeDatasetAdmin(ScopedAdmin):
    scope_model, scope_path = GazeDataset, ""
    inlines = [GazeDatasetShareInline]
    list_display = ["name", "task", "n_observers", "source_format", "created_at"]
    fields = ["name", "owner", "description", "task", "n_observers", "pixels_per_degree", "sigma_px",
              "source_format",
              "created_at", "provenance", "last_report"]
    readonly_fields = ["name", "pixels_per_degree", "sigma_px", "source_format", "created_at", "provenance",
                       "last_report"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GazeStimulus)
class GazeStimulusAdmin(ReadOnlyAdmin):
    scope_model, scope_path = GazeDataset, "dataset"
    list_display = ["name", "dataset", "width", "height", "sha256"]
    list_filter = [("dataset", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["dataset"]
    search_fields = ["name"]


@admin.register(GazeMap)
class GazeMapAdmin(ReadOnlyAdmin):
    scope_model, scope_path = GazeDataset, "stimulus__dataset"
    list_display = ["stimulus", "source_name", "source_sha256"]
    list_filter = [("stimulus__dataset", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["stimulus__dataset"]


@admin.register(GazeFixations)
class GazeFixationsAdmin(ReadOnlyAdmin):
    scope_model, scope_path = GazeDataset, "stimulus__dataset"
    list_display = ["stimulus", "count", "source_name", "source_sha256"]
    list_filter = [("stimulus__dataset", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["stimulus__dataset"]
