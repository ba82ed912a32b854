"""Each participant page costs a small, fixed number of queries, however long the study."""
import pytest

from tests.factories import make_study
from tests.integration.study.participant_helpers import consent, post_answer

pytestmark = pytest.mark.django_db


def test_question_pages_and_answers_take_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    make_study(n_correct=16, n_incorrect=14)
    participant = consent(client)
    url = f"/p/{participant.token}/"
    client.post(url + "intro/")
    for number in range(1, 31):
        # participant; current trial with its item, its stimulus and the count left; shown_at; before the
        # first answer only, the questionnaire blocks placed before the questions
        with django_assert_max_num_queries(4 if number == 1 else 3):
            trial = client.get(url).context["page"].trial
        # in one transaction: lock the participant, current trial, update it, update the participant; at the
        # last question only, the blocks placed after the questions and the failed attention checks (for
        # the participant's outcome and its completion code)
        with django_assert_max_num_queries(8 if number == 30 else 6):  # BEGIN and COMMIT count as two
            assert post_answer(client, participant, trial).status_code == 302
    assert participant.trials.filter(answered_at__isnull=True).count() == 0
