"""Admin pages for studies, their arms and items, participants and trials.

What the participant flow writes (participants, trials, recruitment records) is research
data: here it can be viewed and deleted (e.g. on a withdrawal request), never edited.
"""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from study.models import (
    Arm,
    GazeDataset,
    GazeFixations,
    GazeMap,
    GazeStimulus,
    Item,
    Participant,
    RecruitmentRecord,
    Stimulus,
    Study,
    Trial,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View (and delete) only: rows written by the participant flow are never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
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
    inlines = [ArmInline]

    @admin.display(description="dashboard")
    def dashboard(self, study: Study) -> str:
        return format_html('<a href="{}">dashboard</a>', reverse("researcher-dashboard", args=[study.slug]))


class StimulusInline(admin.TabularInline):
    model = Stimulus
    extra = 0


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["study", "position", "name", "model_prediction", "model_correct", "is_attention_check"]
    list_filter = ["study", "model_correct", "is_attention_check"]
    list_select_related = ["study"]
    search_fields = ["name", "model_prediction"]
    inlines = [StimulusInline]


class RecruitmentInline(admin.StackedInline):
    model = RecruitmentRecord
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ["pk", "study", "arm", "status", "consented_at", "last_seen_at", "completed_at"]
    list_filter = ["study", "arm__technique", "status"]
    list_select_related = ["study", "arm__study"]
    inlines = [RecruitmentInline]


@admin.register(Trial)
class TrialAdmin(ReadOnlyAdmin):
    list_display = [
        "participant",
        "item",
        "presented_position",
        "chosen_option",
        "correct_guess",
        "rt_ms",
        "answered_at",
    ]
    list_filter = ["participant__study", "participant__arm__technique"]
    list_select_related = ["participant__study", "item__study"]


@admin.register(RecruitmentRecord)
class RecruitmentRecordAdmin(ReadOnlyAdmin):
    list_display = ["participant", "params"]
    list_filter = ["participant__study"]
    list_select_related = ["participant__study"]


# Gaze data sets: imported with import_gaze or the upload page, never added or edited by hand
# (only the description fields of a data set); deleting a data set deletes its rows.


@admin.register(GazeDataset)
class GazeDatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "task", "n_observers", "source_format", "created_at"]
    fields = ["name", "description", "task", "n_observers", "pixels_per_degree", "sigma_px", "source_format",
              "created_at", "provenance", "last_report"]
    readonly_fields = ["name", "pixels_per_degree", "sigma_px", "source_format", "created_at", "provenance",
                       "last_report"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GazeStimulus)
class GazeStimulusAdmin(ReadOnlyAdmin):
    list_display = ["name", "dataset", "width", "height", "sha256"]
    list_filter = ["dataset"]
    list_select_related = ["dataset"]
    search_fields = ["name"]


@admin.register(GazeMap)
class GazeMapAdmin(ReadOnlyAdmin):
    list_display = ["stimulus", "source_name", "source_sha256"]
    list_filter = ["stimulus__dataset"]
    list_select_related = ["stimulus__dataset"]


@admin.register(GazeFixations)
class GazeFixationsAdmin(ReadOnlyAdmin):
    list_display = ["stimulus", "count", "source_name", "source_sha256"]
    list_filter = ["stimulus__dataset"]
    list_select_related = ["stimulus__dataset"]
