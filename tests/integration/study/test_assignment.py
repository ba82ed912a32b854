"""Arm assignment: strict round-robin and balanced, alone and under concurrent consents."""
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from study.survey.assignment import AssignmentError, arm_loads, assign_arm
from study.models import Arm, Participant, Study
from study.survey import enrolment
from tests.conftest import ROOT
from tests.factories import make_study

PARTICIPANTS = 30  # per policy in the SQLite file test


def add_participants(arm: Arm, n: int, status: str = Participant.Status.ACTIVE, minutes_ago: int = 0) -> None:
    for _ in range(n):
        completed_at = timezone.now() if status == "completed" else None
        participant = Participant.objects.create(study=arm.study, arm=arm, status=status,
                                                 completed_at=completed_at)
        Participant.objects.filter(pk=participant.pk).update(
            last_seen_at=timezone.now() - timedelta(minutes=minutes_ago))


def next_arm(study: Study) -> str:
    with transaction.atomic():
        return assign_arm(Study.objects.get(pk=study.pk)).name


@pytest.mark.django_db
def test_round_robin_cycles_through_the_arms_by_position():
    study = make_study(techniques=("gradcam", "pv", "lime"), n_correct=1, n_incorrect=0)
    Arm.objects.filter(study=study, name="gradcam").update(position=5)  # position, not creation, decides
    assert [next_arm(study) for _ in range(7)] == ["pv", "lime", "gradcam"] * 2 + ["pv"]
    assert Study.objects.get(pk=study.pk).assignments_made == 7


@pytest.mark.django_db
def test_balanced_counts_completed_and_recently_active_participants_only():
    study = make_study(n_correct=1, n_incorrect=0, assignment_policy=Study.Assignment.BALANCED,
                       active_timeout_minutes=30)
    gradcam, pv = study.arms.order_by("position")
    add_participants(gradcam, 2, "completed")
    add_participants(pv, 1, "completed")
    add_participants(pv, 3, minutes_ago=45)  # dropped out: silent past the timeout
    add_participants(pv, 2, "withdrawn")
    assert arm_loads(study) == {gradcam.pk: 2, pv.pk: 1}
    assert next_arm(study) == "pv"
    add_participants(pv, 1, minutes_ago=5)  # active: counts
    assert arm_loads(study) == {gradcam.pk: 2, pv.pk: 2}
    assert next_arm(study) == "gradcam"  # a tie goes to the first arm by position


@pytest.mark.django_db
def test_a_study_without_arms_cannot_assign():
    study = Study.objects.create(slug="empty", title="Empty", status=Study.Status.OPEN)
    with pytest.raises(AssignmentError), transaction.atomic():
        assign_arm(study)


@pytest.mark.django_db(transaction=True)
def test_assignment_outside_a_transaction_is_refused():
    study = make_study(n_correct=1, n_incorrect=0)
    with pytest.raises(RuntimeError, match="inside the transaction"):
        assign_arm(study)
    assert Study.objects.get(pk=study.pk).assignments_made == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", [Study.Assignment.ROUND_ROBIN, Study.Assignment.BALANCED])
def test_concurrent_consents_on_postgres_keep_the_arms_within_one(policy):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; the SQLite file test below covers SQLite")
    study = make_study(n_correct=2, n_incorrect=1, assignment_policy=policy)
    sizes = consent_in_threads(study, participants=60, workers=12)
    assert sum(sizes.values()) == 60 and max(sizes.values()) - min(sizes.values()) <= 1


def consent_in_threads(study: Study, participants: int, workers: int) -> Counter:
    """`participants` consents from `workers` threads released together; participants per arm name."""
    barrier = threading.Barrier(workers)
    keys = [enrolment.issue_consent_key(study) for _ in range(participants)]

    def one(i: int) -> None:
        if i < workers:
            barrier.wait()
        try:
            enrolment.consent(study, keys[i], {})
        finally:
            connections.close_all()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(participants)))
    assert Study.objects.get(pk=study.pk).assignments_made == participants
    assert all(p.trials.count() == study.items.count() for p in Participant.objects.filter(study=study))
    return Counter(Participant.objects.filter(study=study).values_list("arm__name", flat=True))


@pytest.mark.slow
def test_concurrent_participants_on_a_sqlite_file(tmp_path):
    """Threads against a real SQLite file (the in-memory test database cannot take concurrent writers)."""
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite run covers this")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "MEDIA_ROOT": str(tmp_path / "media"), "DJANGO_SETTINGS_MODULE": "config.settings",
           "DEBUG": "1"}  # DEBUG: {% static %} without a collectstatic run
    code = ("import django; django.setup(); "
            "from tests.integration.study.test_assignment import run_on_sqlite_file; run_on_sqlite_file()")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    server_error = result.stderr.find("Internal Server Error")
    assert result.returncode == 0, result.stderr[server_error:][:3000] or result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["answers"] == summary["trials_answered"] == summary["trials"] == PARTICIPANTS * 3
    assert summary["completed"] == summary["assignments_made"] == PARTICIPANTS
    assert summary["pairs_answered_more_than_once"] == 0
    for policy in ("round_robin", "balanced"):
        sizes = summary["arm_sizes"][policy].values()
        assert sum(sizes) == PARTICIPANTS and max(sizes) - min(sizes) <= 1


def run_on_sqlite_file() -> None:
    """In a fresh process on a SQLite file: serve the app on a threaded server, drive PARTICIPANTS over
    HTTP, run as many threaded consents on a balanced study, print a JSON summary."""
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    from django.db.models import Count

    from study.models import Trial
    from tests.integration.study.participant_helpers import drive_over_http

    call_command("migrate", verbosity=0)
    round_robin = make_study(slug="rr", n_correct=2, n_incorrect=1)
    balanced = make_study(slug="bal", n_correct=2, n_incorrect=1, assignment_policy=Study.Assignment.BALANCED)
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    answers = drive_over_http(base_url, "rr", participants=PARTICIPANTS, workers=8)
    server.shutdown()
    rr_participants = Participant.objects.filter(study=round_robin)
    trials = Trial.objects.filter(participant__study=round_robin)
    summary = {
        "answers": answers,
        "trials": trials.count(),
        "trials_answered": trials.filter(answered_at__isnull=False).count(),
        "pairs_answered_more_than_once": trials.values("participant", "item").annotate(n=Count("pk"))
        .filter(n__gt=1).count(),
        "completed": rr_participants.filter(status=Participant.Status.COMPLETED).count(),
        "assignments_made": Study.objects.get(pk=round_robin.pk).assignments_made,
        "arm_sizes": {"round_robin": Counter(rr_participants.values_list("arm__name", flat=True)),
                      "balanced": consent_in_threads(balanced, participants=PARTICIPANTS, workers=8)},
    }
    print(json.dumps(summary))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_consent_form_sent_at_once_from_many_threads_makes_one_participant():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    study = make_study(n_correct=2, n_incorrect=1)
    barrier = threading.Barrier(8)
    key = enrolment.issue_consent_key(study)

    def send() -> int:
        barrier.wait()
        try:
            return enrolment.consent(study, key, {}).pk
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        created = {future.result() for future in [pool.submit(send) for _ in range(8)]}
    assert len(created) == 1 and Participant.objects.count() == 1
    assert Study.objects.get(pk=study.pk).assignments_made == 1
