"""Admin pages for studies, their arms and items, participants and trials."""
from django.contrib import admin

from study.models import Arm, Item, Participant, Stimulus, Study, Trial


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["slug", "title", "status", "assignment_policy", "question_order", "created_at"]
    list_filter = ["status"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["assignments_made", "provenance"]
    inlines = [ArmInline]


class StimulusInline(admin.TabularInline):
    model = Stimulus
    extra = 0


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["study", "position", "name", "model_prediction", "model_correct", "is_attention_check"]
    list_filter = ["study", "model_correct", "is_attention_check"]
    inlines = [StimulusInline]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ["pk", "study", "arm", "status", "consented_at", "completed_at"]
    list_filter = ["study", "arm", "status"]
    readonly_fields = ["token", "seed"]


@admin.register(Trial)
class TrialAdmin(admin.ModelAdmin):
    list_display = ["participant", "item", "presented_position", "chosen_option", "correct_guess", "rt_ms"]
    list_filter = ["participant__study"]
