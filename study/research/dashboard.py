"""What happened in a study, per arm: who started, finished, dropped out, and how fast.

A participant is *dropped* when still active but silent for longer than the study's
``active_timeout_minutes``. Preview runs (Participant.is_preview) count nowhere. Every figure
comes from a fixed number of aggregate queries, whatever the number of participants.
"""

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.utils import timezone

from study.models import Participant, Study, Trial

DROPPED = "dropped"


def dropped_q(study: Study, now: datetime | None = None) -> Q:
    """Filter for participants that are active but were last seen before the study's timeout."""
    cutoff = (now or timezone.now()) - timedelta(minutes=study.active_timeout_minutes)
    return Q(status=Participant.Status.ACTIVE, last_seen_at__lt=cutoff)


def reported_status(study: Study, now: datetime | None = None) -> Case:
    """A participant's status as reported: active, completed, withdrawn or dropped."""
    return Case(
        When(dropped_q(study, now), then=Value(DROPPED)), default=F("status"), output_field=CharField()
    )


def failed_attention_checks(trials: QuerySet[Trial]) -> QuerySet[Trial]:
    """The answered attention-check trials answered wrongly (their design scored them wrong)."""
    return trials.filter(item__is_attention_check=True, answered_at__isnull=False, correct_guess=False)


@dataclass(frozen=True)
class ArmSummary:
    """Participant counts of one arm (or of the whole study), completion time in seconds."""

    name: str
    technique: str
    started: int
    completed: int
    active: int
    dropped: int
    withdrawn: int
    median_completion_s: float | None
    attention_failures: int

    @property
    def median_completion_minutes(self) -> float | None:
        return None if self.median_completion_s is None else self.median_completion_s / 60


@dataclass(frozen=True)
class StudySummary:
    study: Study
    arms: tuple[ArmSummary, ...]
    total: ArmSummary
    computed_at: datetime


def summarize(study: Study, now: datetime | None = None) -> StudySummary:
    """Per-arm and total counts at ``now`` (default: the current time), in four queries."""
    now = now or timezone.now()
    active = Q(status=Participant.Status.ACTIVE)
    dropped = dropped_q(study, now)
    participants = Participant.objects.filter(study=study, is_preview=False)
    per_arm = (
        participants
        .values("arm")
        .annotate(
            started=Count("pk"),
            completed=Count("pk", filter=Q(status=Participant.Status.COMPLETED)),
            active=Count("pk", filter=active & ~dropped),
            dropped=Count("pk", filter=dropped),
            withdrawn=Count("pk", filter=Q(status=Participant.Status.WITHDRAWN)),
        )
        .order_by()
    )
    counts = {row["arm"]: row for row in per_arm}
    failures = dict(
        failed_attention_checks(Trial.objects.filter(participant__study=study, participant__is_preview=False))
        .values_list("participant__arm")
        .annotate(n=Count("pk"))
        .order_by()
    )
    completed = participants.filter(status=Participant.Status.COMPLETED)
    durations: dict[int, list[float]] = {}
    for arm_id, consented_at, completed_at in completed.values_list("arm", "consented_at", "completed_at"):
        durations.setdefault(arm_id, []).append((completed_at - consented_at).total_seconds())

    fields = ["started", "completed", "active", "dropped", "withdrawn"]
    arms = []
    for arm in study.arms.order_by("position"):
        row = counts.get(arm.pk, {})
        arms.append(
            ArmSummary(
                name=arm.name,
                technique=arm.technique,
                **{f: row.get(f, 0) for f in fields},
                median_completion_s=_median(durations.get(arm.pk, [])),
                attention_failures=failures.get(arm.pk, 0),
            )
        )
    total = ArmSummary(
        name="all arms",
        technique="",
        **{f: sum(getattr(a, f) for a in arms) for f in fields},
        median_completion_s=_median([d for ds in durations.values() for d in ds]),
        attention_failures=sum(a.attention_failures for a in arms),
    )
    return StudySummary(study=study, arms=tuple(arms), total=total, computed_at=now)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
