"""The agreement design built for real: every item offers the scale (HIVE's, or the researcher's), each
explained arm has one stimulus per item (of the prediction), a control arm has none, and the consent text
and intros say what an agreement question asks."""

import pytest
from django.core.management import CommandError, call_command

from study.building.build import build_study
from study.building.forms import StudyBuilderForm
from study.building.participant_texts import CONTROL_INTROS
from study.building.request import BuildError, BuildRequest
from study.models import Stimulus, Study
from study.models.study import CONTROL
from study.survey.designs.agreement import HIVE_SCALE

pytestmark = pytest.mark.django_db

SCALE = ["Sure it is right", "Think it is right", "Unsure, leaning right", "Unsure, leaning wrong",
         "Think it is wrong", "Sure it is wrong"]


def request_for(tiny_spec, dataset, **fields) -> BuildRequest:
    fields = {"arms": ("gradcam", CONTROL), "n_correct": 3, "n_incorrect": 2, "seed": 2,
              "design": "agreement"} | fields
    return BuildRequest(slug="a1", model=str(tiny_spec), dataset=dataset, **fields)


def test_items_offer_hives_scale_and_each_explained_arm_one_stimulus_of_the_prediction(
        tiny_spec, csv_dataset, isolated_media):
    study = build_study(request_for(tiny_spec, csv_dataset, attention_checks=1), progress=False)
    assert (study.design, study.design_options) == ("agreement", {"scale": list(HIVE_SCALE)})
    items = list(study.items.order_by("position"))
    assert len(items) == 6 and sum(item.is_attention_check for item in items) == 1
    assert sum(not item.model_correct for item in items) == 2
    gradcam, control = study.arms.order_by("position")
    for item in items:
        assert item.options == list(HIVE_SCALE)
        stimuli = list(Stimulus.objects.filter(item=item, arm=gradcam))
        assert [s.target for s in stimuli] == [item.model_prediction]
        if item.is_attention_check:  # the unmasked image as the explanation
            assert stimuli[0].image.read() == item.image.read() and item.model_correct
    assert not control.stimuli.exists() and not control.example_image
    assert control.intro_html == CONTROL_INTROS["agreement"] and "The prediction only" in control.intro_html
    assert "say whether you think the prediction is correct" in gradcam.intro_html and gradcam.example_image
    assert study.consent_text.startswith(
        "<p>You will see 6 images, each with an image classifier's prediction, and say whether you think it "
        "is correct. Depending on the group you are placed in, each prediction comes with an explanation, or "
        "without one.")


def test_without_a_control_arm_the_consent_text_promises_explanations(tiny_spec, csv_dataset, isolated_media):
    study = build_study(request_for(tiny_spec, csv_dataset, arms=("gradcam",), n_correct=1, n_incorrect=1),
                        progress=False)
    assert study.consent_text.startswith(
        "<p>You will see 2 images, each with an image classifier's prediction and an explanation of it, and "
        "say whether you think the prediction is correct.")


def test_a_custom_even_scale_through_the_command(tiny_spec, csv_dataset, isolated_media):
    call_command("build_study", "a1", "--model", str(tiny_spec), "--dataset", str(csv_dataset),
                 "--arms", "gradcam", "--n-correct", "2", "--n-incorrect", "1", "--design", "agreement",
                 "--design-options", f'{{"scale": {SCALE!r}}}'.replace("'", '"'), verbosity=0)
    study = Study.objects.get(slug="a1")
    assert study.design_options == {"scale": SCALE}
    assert [item.options for item in study.items.all()] == [SCALE] * 3
    assert study.provenance["design"] == {"name": "agreement", "options": {"scale": SCALE}}


@pytest.mark.parametrize("options, message", [
    ({"scale": SCALE[:3]}, "an even number (2 to 10) of distinct labels"),
    ({"scale": ["yes", "yes"]}, "an even number (2 to 10) of distinct labels"),
    ({"scale": "yes,no"}, "the agreement scale is a list of labels"),
    ({"points": 4}, "unknown agreement option(s) ['points']; the design takes: scale"),
])
def test_bad_scales_are_refused(tiny_spec, csv_dataset, options, message):
    with pytest.raises(BuildError, match="agreement design: ") as raised:
        build_study(request_for(tiny_spec, csv_dataset, design_options=options), progress=False)
    assert message in str(raised.value)
    assert not Study.objects.exists()


def test_the_builder_form_reads_the_scale_one_label_per_line():
    form = StudyBuilderForm({"design": "agreement", "agreement_scale": "\n".join(SCALE) + "\n\n",
                             "arms": ["gradcam", CONTROL]})
    form.is_valid()
    assert form.cleaned_data["design_options"] == {"scale": SCALE} and "arms" not in form.errors
    form = StudyBuilderForm({"design": "agreement", "agreement_scale": "one\ntwo\nthree",
                             "arms": ["gradcam"]})
    assert not form.is_valid() and "an even number" in form.errors["design"][0]
    empty = StudyBuilderForm({"design": "agreement", "agreement_scale": "", "arms": ["gradcam"]})
    empty.is_valid()
    assert empty.cleaned_data["design_options"] == {"scale": list(HIVE_SCALE)}


def test_the_command_refuses_an_unknown_design(tiny_spec, csv_dataset):
    with pytest.raises(CommandError, match="invalid choice: 'ranking'"):
        call_command("build_study", "a1", "--model", str(tiny_spec), "--dataset", str(csv_dataset),
                     "--design", "ranking", verbosity=0)
