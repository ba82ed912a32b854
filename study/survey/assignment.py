"""Arm assignment for a consenting participant: strict round-robin or balanced.

Both policies first bump the study's assignment counter with one UPDATE. That row write
is the lock: concurrent consents for the same study queue behind it until the caller's
transaction (which also creates the participant) commits, on PostgreSQL and on SQLite
(whose settings use IMMEDIATE transactions). Preview participants count in no arm's load or cap.
"""
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from study.models import Arm, Participant, Study


class AssignmentError(Exception):
    """The study cannot take a participant (e.g. it has no arms)."""


class StudyFull(AssignmentError):
    """Every arm has reached its cap (Arm.max_participants)."""


def assign_arm(study: Study) -> Arm:
    """The arm for the next participant of `study`; call inside the transaction that creates them."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("assign_arm must run inside the transaction that creates the participant")
    arms = list(study.arms.order_by("position"))
    if not arms:
        raise AssignmentError(f"study {study.slug!r} has no arms")
    Study.objects.filter(pk=study.pk).update(assignments_made=F("assignments_made") + 1)
    arms = open_arms(arms)
    if study.assignment_policy == Study.Assignment.ROUND_ROBIN:
        made = Study.objects.values_list("assignments_made", flat=True).get(pk=study.pk)
        return arms[(made - 1) % len(arms)]
    if study.assignment_policy == Study.Assignment.BALANCED:
        counts = arm_loads(study)
        return min(arms, key=lambda arm: (counts.get(arm.pk, 0), arm.position))
    raise AssignmentError(f"unknown assignment policy {study.assignment_policy!r}")


def open_arms(arms: list[Arm]) -> list[Arm]:
    """The arms below their cap (all of them, with no query, when none has a cap); StudyFull if none is."""
    capped = [arm for arm in arms if arm.max_participants is not None]
    if not capped:
        return arms
    participants = Participant.objects.filter(arm__in=capped, is_preview=False)
    rows = participants.values_list("arm").annotate(n=Count("pk")).order_by()
    assigned = dict(rows)
    below = [a for a in arms if a.max_participants is None or assigned.get(a.pk, 0) < a.max_participants]
    if not below:
        raise StudyFull(f"every arm of study {arms[0].study_id} is full")
    return below


def arm_loads(study: Study) -> dict[int, int]:
    """Participants per arm id that count for balance: completed, or active and seen within the timeout."""
    cutoff = timezone.now() - timedelta(minutes=study.active_timeout_minutes)
    active = Q(status=Participant.Status.ACTIVE, last_seen_at__gte=cutoff)
    counting = Q(status=Participant.Status.COMPLETED) | active
    participants = Participant.objects.filter(counting, study=study, is_preview=False)
    rows = participants.values("arm").annotate(n=Count("pk"))
    return {row["arm"]: row["n"] for row in rows}
