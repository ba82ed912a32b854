"""200 participants at once through the HTTP stack on PostgreSQL: balanced arms, no trial lost or doubled."""
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count

from study.models import Participant, Study, Trial
from tests.factories import make_study
from tests.integration.study.participant_helpers import drive_over_http

PARTICIPANTS = 200
WORKERS = 24  # concurrent HTTP clients

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_two_hundred_concurrent_participants_round_robin(live_server):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    study = make_study(n_correct=2, n_incorrect=1, assignment_policy=Study.Assignment.ROUND_ROBIN)
    n_items = study.items.count()

    answers = drive_over_http(live_server.url, study.slug, PARTICIPANTS, WORKERS)

    assert answers == PARTICIPANTS * n_items
    sizes = Counter(Participant.objects.values_list("arm__name", flat=True))
    assert sum(sizes.values()) == PARTICIPANTS and max(sizes.values()) - min(sizes.values()) <= 1
    assert Study.objects.get(pk=study.pk).assignments_made == PARTICIPANTS
    assert Participant.objects.filter(status=Participant.Status.COMPLETED).count() == PARTICIPANTS
    assert Trial.objects.count() == Trial.objects.filter(answered_at__isnull=False).count() == answers
    per_pair = Trial.objects.values("participant", "item").annotate(n=Count("pk"))
    assert {row["n"] for row in per_pair} == {1} and len(per_pair) == PARTICIPANTS * n_items
