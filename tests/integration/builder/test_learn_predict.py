"""The learn_predict design built for real: rounds of a training then a test block, each with its share of
model errors (rounded per block), no image twice, stimuli of the prediction for training items only, the
design's numbers of items whatever n_correct and n_incorrect say, and no attention checks."""

import pytest
from django.core.management import call_command

from study.building.build import build_study
from study.building.forms import StudyBuilderForm
from study.building.request import BuildError, BuildRequest
from study.models import Stimulus, Study
from study.models.study import CANT_TELL, CONTROL
from study.survey.designs.learn_predict import LearnPredict

pytestmark = pytest.mark.django_db

OPTIONS = {"rounds": 2, "train_per_round": 3, "test_per_round": 4, "error_share": 0.25}


def request_for(tiny_spec, dataset, **fields) -> BuildRequest:
    fields = {"arms": ("gradcam", CONTROL), "n_correct": 1, "n_incorrect": 0, "seed": 3,
              "design": "learn_predict", "design_options": OPTIONS} | fields
    return BuildRequest(slug="lp1", model=str(tiny_spec), dataset=dataset, **fields)


def test_blocks_hold_their_error_shares_and_only_training_items_have_stimuli(
        tiny_spec, csv_dataset, isolated_media):
    study = build_study(request_for(tiny_spec, csv_dataset), progress=False)
    assert study.design_options == OPTIONS | {"feedback": False}
    items = list(study.items.order_by("position"))
    # 0.25 * 3 = 0.75 rounds to 1 error per training block, 0.25 * 4 = 1 per test block: 14 items, 4 wrong.
    blocks = [(item.details["round"], item.details["phase"]) for item in items]
    assert blocks == [(1, "train")] * 3 + [(1, "test")] * 4 + [(2, "train")] * 3 + [(2, "test")] * 4
    for key in [(1, "train"), (1, "test"), (2, "train"), (2, "test")]:
        block = [item for item, b in zip(items, blocks) if b == key]
        assert sum(not item.model_correct for item in block) == 1
    assert len({item.name for item in items}) == 14
    gradcam, control = study.arms.order_by("position")
    for item in items:
        assert item.model_prediction in item.options
        assert item.options[-1] == CANT_TELL
        targets = list(Stimulus.objects.filter(item=item, arm=gradcam).values_list("target", flat=True))
        assert targets == ([item.model_prediction] if item.details["phase"] == "train" else [])
    assert Stimulus.objects.filter(item__study=study).count() == 6
    assert not control.stimuli.exists() and gradcam.example_image
    assert "The decision only" in control.intro_html and "predict the model's decision" in gradcam.intro_html
    assert study.consent_text.startswith("<p>You will see 14 images in rounds:")
    assert study.provenance["design"] == {"name": "learn_predict", "options": OPTIONS | {"feedback": False}}


def test_the_command_takes_the_design_options(tiny_spec, csv_dataset, isolated_media):
    call_command("build_study", "lp1", "--model", str(tiny_spec), "--dataset", str(csv_dataset),
                 "--arms", "gradcam", "--design", "learn_predict", "--design-options",
                 '{"rounds": 1, "train_per_round": 2, "test_per_round": 2, "error_share": 0, '
                 '"feedback": true}',
                 verbosity=0)
    study = Study.objects.get(slug="lp1")
    assert study.design_options["feedback"] is True
    assert [(i.details["phase"], i.model_correct) for i in study.items.order_by("position")] == [
        ("train", True), ("train", True), ("test", True), ("test", True)]


@pytest.mark.parametrize("options, message", [
    ({"rounds": 0}, "rounds is a whole number from 1 to 10, got 0"),
    ({"train_per_round": 51}, "train_per_round is a whole number from 1 to 50, got 51"),
    ({"error_share": 1.5}, "error_share is a number from 0 to 1, got 1.5"),
    ({"feedback": "yes"}, "feedback is true or false, got 'yes'"),
    ({"k": 4}, "unknown learn_predict option(s) ['k']"),
])
def test_bad_options_are_refused(tiny_spec, csv_dataset, options, message):
    with pytest.raises(BuildError, match="learn_predict design: ") as raised:
        build_study(request_for(tiny_spec, csv_dataset, design_options=options), progress=False)
    assert message in str(raised.value)
    assert not Study.objects.exists()


def test_attention_checks_are_refused(tiny_spec, csv_dataset):
    with pytest.raises(BuildError, match="the learn_predict design takes no attention checks"):
        build_study(request_for(tiny_spec, csv_dataset, attention_checks=1), progress=False)


def test_blocks_round_the_error_share_per_block():
    blocks = LearnPredict().blocks({"rounds": 1, "train_per_round": 5, "test_per_round": 2,
                                    "error_share": 0.3})
    # 0.3 * 5 = 1.5 rounds up to 2; 0.3 * 2 = 0.6 rounds to 1.
    assert blocks == [({"round": 1, "phase": "train"}, 3, 2), ({"round": 1, "phase": "test"}, 1, 1)]


def test_the_builder_form_puts_the_fields_in_the_design_options():
    form = StudyBuilderForm(data={"design": "learn_predict", "rounds": "2", "train_per_round": "5",
                                  "test_per_round": "3", "error_share": "0.4", "feedback": "on",
                                  "attention_checks": "1"})
    form.is_valid()
    assert form.cleaned_data["design_options"] == {"rounds": 2, "train_per_round": 5, "test_per_round": 3,
                                                   "error_share": 0.4, "feedback": True}
    assert form.errors["attention_checks"] == ["the learn_predict design takes no attention checks"]
