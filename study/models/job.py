"""Jobs: heavy work (imports, precomputes, reports, builds, analyses) run by Celery workers."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Job(models.Model):
    """One piece of heavy work: what to run (`kind`, `params`), who asked, where it stands and what it made.

    A sharded job (precompute, gaze report) is split into `shards_total` tasks; `shards_done` lists the
    indices finished and `shards_running` maps a running index to the worker that took it."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (State.QUEUED, State.RUNNING)

    kind = models.CharField(max_length=40)
    params = models.JSONField(default=dict)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="jobs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Fraction done, in [0, 1].")
    items_done = models.PositiveIntegerField(default=0)
    items_total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="Links to what the job made: label -> URL.")
    worker = models.CharField(max_length=255, blank=True,
                              help_text="Celery hostname of the worker running it.")
    attempts = models.PositiveSmallIntegerField(default=0)
    shards_total = models.PositiveIntegerField(default=0)
    shards_done = models.JSONField(default=list, blank=True)
    shards_running = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=120, null=True, blank=True,
                             help_text="What this job alone may work on while it is queued or running, "
                                       "e.g. study:SLUG for a build (unique among active jobs).")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=["queued", "running", "done", "failed",
                                                          "cancelled"]), name="job_state_known"),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1),
                                   name="job_progress_fraction"),
            models.CheckConstraint(condition=Q(items_done__lte=F("items_total")) | Q(items_total=0),
                                   name="job_items_done_within_total"),
            models.CheckConstraint(condition=Q(finished_at__isnull=True) | Q(started_at__isnull=True)
                                   | Q(finished_at__gte=F("started_at")), name="job_finishes_after_start"),
            models.CheckConstraint(condition=~Q(state="failed") | ~Q(error=""), name="job_failure_has_error"),
            models.UniqueConstraint(fields=["claim"], condition=Q(state__in=["queued", "running"]),
                                    name="job_unique_active_claim"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.kind}, {self.state})"

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE
