"""Gaze data sets: stimuli, their gaze fixation density maps (GFDMs) and raw fixations.

Maps are stored once as float32 `.npy` arrays `(H, W)` summing to 1, with a preview PNG.
Fixations are stored as one `.npz` file per stimulus (arrays x, y, duration, start_time and
observer), not as one row per fixation: they are only ever read whole, per stimulus, for the
metrics that need points (NSS, AUC), eye-tracker exports run to 10^5-10^6 fixations per data
set, and the file shares the maps' checksum and temp+rename path.
"""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class GazeDataset(models.Model):
    class SourceFormat(models.TextChoices):
        MAPS = "maps", "Density maps (images or arrays)"
        FIXATIONS = "fixations", "Fixation table"
        MAPS_AND_FIXATIONS = "maps+fixations", "Density maps and fixations"
        CLICKS = "clicks", "Clicks of a study's participants (study.gaze.clicks)"

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    task = models.CharField(max_length=200, blank=True, help_text="What observers did, e.g. free viewing.")
    n_observers = models.PositiveIntegerField(null=True, blank=True)
    pixels_per_degree = models.FloatField(null=True, blank=True)
    sigma_px = models.FloatField(
        null=True, blank=True, help_text="Gaussian sigma used to build GFDMs from fixations."
    )
    source_format = models.CharField(max_length=20, choices=SourceFormat.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    # No owner: only superusers see the data set. See study.access for sharing.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    # Source files (name -> sha256) and the options of the import.
    provenance = models.JSONField(default=dict, blank=True)
    # The last gaze_report (see study.gaze.report): model, methods, metrics, the
    # per-method table, and per stimulus the scores and map previews.
    last_report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pixels_per_degree__isnull=True) | Q(pixels_per_degree__gt=0),
                name="gazedataset_ppd_positive",
            ),
            models.CheckConstraint(
                condition=Q(sigma_px__isnull=True) | Q(sigma_px__gt=0), name="gazedataset_sigma_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def report_for(self, stimulus: str) -> dict:
        """From the last gaze report: {"methods", "metrics", "scores": {method: {metric: value}},
        "maps": {method: media path}, "created_at", "model"}; empty if there is none."""
        report = self.last_report or {}
        if stimulus not in report.get("scores", {}):
            return {}
        return {
            "methods": report["methods"],
            "metrics": report["metrics"],
            "model": report["model"],
            "created_at": report["created_at"],
            "scores": report["scores"][stimulus],
            "maps": report["maps"][stimulus],
        }


class GazeStimulus(models.Model):
    dataset = models.ForeignKey(GazeDataset, on_delete=models.CASCADE, related_name="stimuli")
    name = models.CharField(max_length=255, help_text="File name stem; maps and fixations match on it.")
    image = models.ImageField(upload_to="gaze/stimuli/")
    width = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    height = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["dataset", "name"]
        verbose_name_plural = "gaze stimuli"
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="gazestimulus_unique_name"),
            models.CheckConstraint(
                condition=Q(width__gt=0) & Q(height__gt=0), name="gazestimulus_positive_size"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name}/{self.name}"


class GazeMap(models.Model):
    """The GFDM of one stimulus: `(height, width)` float32 summing to 1."""

    stimulus = models.OneToOneField(GazeStimulus, on_delete=models.CASCADE, related_name="gaze_map")
    array = models.FileField(upload_to="gaze/maps/")
    preview = models.ImageField(upload_to="gaze/previews/")
    source_name = models.CharField(
        max_length=255, help_text="File the map came from (or the fixation table)."
    )
    source_sha256 = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"GFDM of {self.stimulus}"


class GazeFixations(models.Model):
    """The fixations on one stimulus: an `.npz` with x, y, duration, start_time (float64, NaN if
    unknown; pixels and milliseconds) and observer (str), one entry per fixation."""

    stimulus = models.OneToOneField(GazeStimulus, on_delete=models.CASCADE, related_name="fixations")
    array = models.FileField(upload_to="gaze/fixations/")
    count = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    source_name = models.CharField(max_length=255)
    source_sha256 = models.CharField(max_length=64)

    class Meta:
        verbose_name_plural = "gaze fixations"
        constraints = [models.CheckConstraint(condition=Q(count__gt=0), name="gazefixations_not_empty")]

    def __str__(self) -> str:
        return f"{self.count} fixations on {self.stimulus}"
