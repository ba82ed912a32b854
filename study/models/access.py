"""Who else may see or change a study or a gaze data set: shares with users or groups.

The owner (on the study or data set) may do everything; a share grants `view` or `edit` to one
user or one group; superusers see everything. study.access answers the questions.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from study.models.gaze import GazeDataset
from study.models.study import Study


class Access(models.TextChoices):
    VIEW = "view", "View pages and exports"
    EDIT = "edit", "View and edit"


class Share(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True,
                             related_name="+")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    access = models.CharField(max_length=4, choices=Access.choices, default=Access.VIEW)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="%(class)s_user_or_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.access} for {self.user or self.group}"


class StudyShare(Share):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="shares")

    class Meta(Share.Meta):
        constraints = [
            *Share.Meta.constraints,
            models.UniqueConstraint(fields=["study", "user"], name="studyshare_unique_user"),
            models.UniqueConstraint(fields=["study", "group"], name="studyshare_unique_group"),
        ]


class GazeDatasetShare(Share):
    dataset = models.ForeignKey(GazeDataset, on_delete=models.CASCADE, related_name="shares")

    class Meta(Share.Meta):
        constraints = [
            *Share.Meta.constraints,
            models.UniqueConstraint(fields=["dataset", "user"], name="gazedatasetshare_unique_user"),
            models.UniqueConstraint(fields=["dataset", "group"], name="gazedatasetshare_unique_group"),
        ]
