"""build_study with a confidence rating and a questionnaire file: rows created in the build's
transaction, and an invalid definition refused before any work."""
import json

import pytest
from django.core.management import call_command

from study.models import QuestionnaireQuestion, Study
from study.building.build import build_study
from study.building.request import BuildError
from tests.integration.builder.test_build import request_for
from tests.integration.questionnaire.helpers import DEFINITION

pytestmark = pytest.mark.django_db


def test_command_builds_the_open_study_with_confidence_and_blocks(tiny_spec, csv_dataset, isolated_media,
                                                            tmp_path):
    path = tmp_path / "questionnaire.json"
    path.write_text(json.dumps(DEFINITION))
    call_command("build_study", "s1", "--model", str(tiny_spec), "--dataset", str(csv_dataset), "--arms",
                 "gradcam", "--n-correct", "2", "--n-incorrect", "1", "--confidence-rating", "5",
                 "--questionnaire", str(path), "--open", verbosity=0)
    study = Study.objects.get(slug="s1")
    assert study.status == Study.Status.OPEN  # asked for with --open (builds are drafts otherwise)
    assert study.confidence_rating == 5 and study.items.count() == 3
    blocks = [(b.placement, b.title, b.questions.count())
              for b in study.questionnaire_blocks.order_by("-placement")]
    assert blocks == [("before", "About you", 2), ("after", "Your view", 3)]
    assert list(QuestionnaireQuestion.objects.filter(block__study=study, required=True)
                .values_list("key", flat=True).order_by("key")) == ["age", "trust"]
    assert study.provenance["build_key"]  # the definition is part of the request, hence of its key


def test_invalid_questionnaire_in_the_request_is_refused_before_any_work(tiny_spec, csv_dataset):
    bad = {"blocks": [{"placement": "after", "title": "T", "questions": [{"key": "x", "kind": "likert",
                                                                          "text": "?"}]}]}
    with pytest.raises(BuildError, match=r"blocks\[0\].questions\[0\].scale"):
        build_study(request_for(tiny_spec, csv_dataset, questionnaire=bad), progress=False)
    with pytest.raises(BuildError, match="confidence_rating: must be 0"):
        build_study(request_for(tiny_spec, csv_dataset, confidence_rating=1), progress=False)
    assert not Study.objects.exists()
