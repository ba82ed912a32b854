"""An attention block built for real before another design's questions: every arm (the control arm too)
gets each item's blurred image, the one file the attention design makes, beside its explanations; the
attention checks and the worked example get none. The command, the builder form and the job all take it."""
import io

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from study.building.build import build_study
from study.building.forms import StudyBuilderForm
from study.building.request import BuildError, BuildRequest
from study.models import Stimulus, Study
from study.models.study import CONTROL
from study.survey import enrolment
from study.survey.designs.attention import BLURRED, DEFAULT_TASK, blurred_png

pytestmark = pytest.mark.django_db
BLOCK = {"sigma": 30, "radius": 25, "min_clicks": 2}


def request_for(tiny_spec, dataset, **fields) -> BuildRequest:
    fields = {"arms": ("gradcam", CONTROL), "n_correct": 2, "n_incorrect": 1, "seed": 2,
              "attention_block": BLOCK} | fields
    return BuildRequest(slug="ab", model=str(tiny_spec), dataset=dataset, **fields)


def test_every_arm_has_each_items_blurred_image_beside_its_explanation(tiny_spec, csv_dataset,
                                                                        isolated_media):
    study = build_study(request_for(tiny_spec, csv_dataset, attention_checks=1), progress=False)
    assert study.attention_block == {"sigma": 30, "radius": 25, "min_clicks": 2, "max_clicks": 100,
                                     "time_limit_s": 0, "task": DEFAULT_TASK}
    assert study.provenance["design"]["attention_block"] == study.attention_block
    gradcam, control = study.arms.order_by("position")
    for item in study.items.filter(is_attention_check=False):
        shown = Image.open(item.image).convert("RGB")
        source = Image.open(csv_dataset / item.name).convert("RGB")
        assert item.details == {"width": shown.width, "height": shown.height,
                                "scale": shown.width / source.width}
        targets = {arm.technique: sorted(Stimulus.objects.filter(item=item, arm=arm).values_list("target",
                                                                                                  flat=True))
                   for arm in (gradcam, control)}
        assert targets == {"gradcam": sorted([BLURRED, item.model_prediction]), CONTROL: [BLURRED]}
        expected = np.asarray(Image.open(io.BytesIO(blurred_png(source, shown, 30))).convert("RGB"))
        for arm in (gradcam, control):
            stimulus = Stimulus.objects.get(item=item, arm=arm, target=BLURRED)
            assert np.array_equal(np.asarray(Image.open(stimulus.image).convert("RGB")), expected)
    # 3 questions and the check; the block's 3 images before them
    assert "You will see 4 images" in study.consent_text
    assert "you will see 3 of the images blurred" in study.consent_text
    (check,) = study.items.filter(is_attention_check=True)
    assert not Stimulus.objects.filter(item=check, target=BLURRED).exists() and check.details == {}
    enrolment._check_ready(study, list(study.items.all()))  # all there: no NotReady
    Stimulus.objects.filter(item__study=study, arm=control).delete()
    with pytest.raises(enrolment.NotReady):
        enrolment._check_ready(study, list(study.items.all()))


@pytest.mark.parametrize("fields, message", [
    ({"design": "attention", "arms": (CONTROL,)}, "the attention design is a study of clicks already"),
    ({"attention_block": {"sigma": 4}}, "attention block: sigma is a whole number from 5 to 100"),
    ({"attention_block": {"blur": 3}}, "attention block: unknown attention option(s) ['blur']"),
])
def test_bad_blocks_are_refused(tiny_spec, csv_dataset, fields, message):
    with pytest.raises(BuildError) as raised:
        build_study(request_for(tiny_spec, csv_dataset, **fields), progress=False)
    assert message in str(raised.value)
    assert not Study.objects.exists()


def test_the_command_builds_it_and_a_study_without_one_has_none(tiny_spec, csv_dataset, isolated_media):
    common = ["--model", str(tiny_spec), "--dataset", str(csv_dataset), "--arms", "gradcam",
              "--n-correct", "2", "--n-incorrect", "1"]
    call_command("build_study", "ab", *common, "--design", "agreement", "--attention-block", "{}",
                 verbosity=0)
    study = Study.objects.get(slug="ab")
    assert study.attention_block["sigma"] == 40 and study.collects_clicks
    assert Stimulus.objects.filter(item__study=study, target=BLURRED).count() == 3
    call_command("build_study", "plain", *common, verbosity=0)
    plain = Study.objects.get(slug="plain")
    assert plain.attention_block == {} and not plain.collects_clicks
    assert not Stimulus.objects.filter(item__study=plain, target=BLURRED).exists()


def test_the_builder_form_takes_the_block_from_the_attention_fields():
    fields = {"design": "simulation", "arms": ["gradcam"], "attention_block": "on", "attention_sigma": 20,
              "attention_radius": 25, "attention_min_clicks": 3, "attention_max_clicks": 50,
              "attention_time_limit_s": 30, "attention_task": "Where?"}
    form = StudyBuilderForm(fields)
    form.is_valid()
    assert form.cleaned_data["attention_block"] == {"sigma": 20, "radius": 25, "min_clicks": 3,
                                                    "max_clicks": 50, "time_limit_s": 30, "task": "Where?"}
    assert form.cleaned_data["design_options"] == {} and "attention_block" not in form.errors
    form = StudyBuilderForm(fields | {"attention_block": ""})
    form.is_valid()
    assert form.cleaned_data["attention_block"] is None
    form = StudyBuilderForm(fields | {"attention_max_clicks": 2})
    assert not form.is_valid()
    assert "max_clicks (2) is below min_clicks (3)" in form.errors["attention_block"][0]
    form = StudyBuilderForm(fields | {"design": "attention", "arms": [CONTROL]})
    assert not form.is_valid()
    assert "the attention design is clicks already" in form.errors["attention_block"][0]
