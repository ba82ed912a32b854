"""The attention design built for real: the control arm alone, each item with its blurred image (PIL's
Gaussian blur of the item image, sigma scaled from source to item pixels) and its size in Item.details."""
import io

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image, ImageFilter

from study.building.build import build_study
from study.building.forms import StudyBuilderForm
from study.building.request import BuildError, BuildRequest
from study.models import Stimulus, Study
from study.models.study import CONTROL
from study.survey import enrolment

pytestmark = pytest.mark.django_db


def request_for(tiny_spec, dataset, **fields) -> BuildRequest:
    fields = {"arms": (CONTROL,), "n_correct": 2, "n_incorrect": 1, "seed": 2, "design": "attention"} | fields
    return BuildRequest(slug="b1", model=str(tiny_spec), dataset=dataset, **fields)


def test_each_item_has_its_blurred_image_in_the_control_arm(tiny_spec, csv_dataset, isolated_media):
    study = build_study(request_for(tiny_spec, csv_dataset, design_options={"sigma": 30}), progress=False)
    assert study.design_options["sigma"] == 30 and study.design_options["radius"] == 40
    (arm,) = study.arms.all()
    assert arm.technique == CONTROL and not arm.example_image
    for item in study.items.all():
        (stimulus,) = Stimulus.objects.filter(item=item, arm=arm)
        shown = Image.open(item.image).convert("RGB")
        source = Image.open(csv_dataset / item.name)
        assert item.options == [] and stimulus.target == "blurred"
        assert item.details == {"width": shown.width, "height": shown.height,
                                "scale": shown.width / source.width}
        expected = shown.filter(ImageFilter.GaussianBlur(30 * shown.width / source.width))
        blurred = Image.open(io.BytesIO(stimulus.image.read())).convert("RGB")
        assert np.array_equal(np.asarray(blurred), np.asarray(expected))
        assert not np.array_equal(np.asarray(blurred), np.asarray(shown))
    enrolment._check_ready(study, list(study.items.all()))  # all there: no NotReady
    Stimulus.objects.filter(item__study=study).first().delete()
    with pytest.raises(enrolment.NotReady):
        enrolment._check_ready(study, list(study.items.all()))


@pytest.mark.parametrize("fields, message", [
    ({"arms": ("gradcam",)}, "shows no explanations: give the control arm ('none') alone"),
    ({"arms": ("gradcam", CONTROL)}, "shows no explanations"),
    ({"attention_checks": 1}, "asks no question, so it has no attention checks"),
    ({"design_options": {"sigma": 4}}, "sigma is a whole number from 5 to 100"),
    ({"design_options": {"min_clicks": 9, "max_clicks": 8}}, "max_clicks (8) is below min_clicks (9)"),
    ({"design_options": {"time_limit_s": 3}}, "time_limit_s is a whole number from 5 to 600 (or 0: no limit)"),
    ({"design_options": {"task": "x" * 501}}, "task is the text shown"),
    ({"design_options": {"blur": 3}}, "unknown attention option(s) ['blur']"),
])
def test_bad_requests_are_refused(tiny_spec, csv_dataset, fields, message):
    with pytest.raises(BuildError) as raised:
        build_study(request_for(tiny_spec, csv_dataset, **fields), progress=False)
    assert message in str(raised.value)
    assert not Study.objects.exists()


def test_the_command_builds_it(tiny_spec, csv_dataset, isolated_media):
    call_command("build_study", "b1", "--model", str(tiny_spec), "--dataset", str(csv_dataset), "--arms", CONTROL,
                 "--n-correct", "2", "--n-incorrect", "1", "--design", "attention",
                 "--design-options", '{"sigma": 30, "task": "Look."}', verbosity=0)
    study = Study.objects.get(slug="b1")
    assert study.design_options == {"sigma": 30, "radius": 40, "min_clicks": 5, "max_clicks": 100,
                                    "time_limit_s": 0, "task": "Look."}
    assert Stimulus.objects.filter(item__study=study, target="blurred").count() == 3


def test_the_builder_form_reads_the_attention_fields_and_refuses_explained_arms():
    fields = {"design": "attention", "attention_sigma": 20, "attention_radius": 25, "attention_min_clicks": 3,
              "attention_max_clicks": 50, "attention_time_limit_s": 30, "attention_task": "Where?"}
    form = StudyBuilderForm(fields | {"arms": [CONTROL]})
    form.is_valid()
    assert form.cleaned_data["design_options"] == {"sigma": 20, "radius": 25, "min_clicks": 3, "max_clicks": 50,
                                                   "time_limit_s": 30, "task": "Where?"}
    assert "arms" not in form.errors and "design" not in form.errors
    form = StudyBuilderForm(fields | {"arms": ["gradcam", CONTROL]})
    assert not form.is_valid() and "shows no explanations" in form.errors["arms"][0]
    form = StudyBuilderForm(fields | {"attention_max_clicks": 2, "arms": [CONTROL]})
    assert not form.is_valid() and "max_clicks (2) is below min_clicks (3)" in form.errors["design"][0]
    empty = StudyBuilderForm({"design": "attention", "arms": [CONTROL]})
    empty.is_valid()
    assert empty.cleaned_data["design_options"]["sigma"] == 40
