"""The same block submitted from several tabs at once on PostgreSQL: one set of answers, no error."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from study.models import QuestionnaireAnswer
from study.survey import enrolment, flow
from tests.integration.questionnaire.helpers import make_questionnaire_study

pytestmark = [pytest.mark.postgres]


@pytest.mark.django_db(transaction=True)
def test_simultaneous_submits_of_a_block_save_it_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...)")
    study = make_questionnaire_study()
    participant = enrolment.consent(study, enrolment.issue_consent_key(study), {})
    flow.finish_intro(participant)
    block = study.questionnaire_blocks.get(placement="before")
    data = {f"q{q.pk}": value for q, value in zip(block.questions.order_by("position"), ["33", "Man"])}

    def submit(_):
        try:
            return flow.answer_block(participant.token, block.pk, data)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(submit, range(8)))
    assert results == [None] * 8
    assert sorted(QuestionnaireAnswer.objects.values_list("question__key", "value")) == [("age", 33),
                                                                                         ("gender", "Man")]
