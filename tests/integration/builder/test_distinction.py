"""The distinction design built for real: each item's options are the model's top-k classes, each explained
arm has one stimulus per class, rendered for that class and stored under it; attention checks show the
image in the top-1 panel and white in the others; what cannot be built is refused clearly."""

import io
import json

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command
from PIL import Image

from explainers import load_model
from explainers.nets import SmallCNN
from explainers.models import predict
from study.building.build import build_study
from study.building.forms import StudyBuilderForm
from study.building.rendering import display_image, render
from study.building.request import BuildError, BuildRequest
from study.models import Study
from study.models.study import CONTROL

pytestmark = pytest.mark.django_db

ARMS = ("gradcam", "gradient")


def request_for(tiny_spec, dataset, **fields) -> BuildRequest:
    fields = {"arms": ARMS, "n_correct": 3, "n_incorrect": 2, "seed": 1, "design": "distinction",
              "design_options": {"k": 3}} | fields
    return BuildRequest(slug="d1", model=str(tiny_spec), dataset=dataset, **fields)


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_items_offer_the_top_k_classes_and_each_arm_explains_each_of_them(tiny_spec, csv_dataset,
                                                                          isolated_media):
    request = request_for(tiny_spec, csv_dataset)
    study = build_study(request, progress=False)
    assert (study.design, study.design_options) == ("distinction", {"k": 3, "show_labels": False,
                                                                   "ask_correct_class": False})
    model = load_model(tiny_spec)
    items = list(study.items.order_by("position"))
    assert len(items) == 5
    for item in items:
        image = Image.open(csv_dataset / item.name).convert("RGB")
        probabilities = predict(model, model.preprocess([image]))[0]
        ranked = [model.class_names[i] for i in np.argsort(-probabilities.numpy(), kind="stable")]
        assert item.options == ranked[:3] and item.model_prediction == ranked[0]
        targets = [model.class_names.index(name) for name in item.options]
        for technique in ARMS:
            stimuli = {s.target: s for s in item.stimuli.filter(arm__technique=technique)}
            assert sorted(stimuli) == sorted(item.options)
            # a fresh render of the image for the same k classes: each stored under its own class
            fresh = render(model, [image] * 3, [display_image(image)] * 3, targets, technique, request, None)
            for name, png in zip(item.options, fresh):
                stored = pixels(stimuli[name].image.read())
                assert stimuli[name].provenance["target"] == name
                assert np.abs(stored - pixels(png)).max() <= 1, (item.name, technique, name)
            # the k maps differ: the targets matter (else the comparison above would prove nothing)
            assert len({pixels(png).tobytes() for png in fresh}) == 3
    assert "You will see 5 images, each with several explanations" in study.consent_text
    for arm in study.arms.all():
        assert "3 such explanations" in arm.intro_html and arm.example_image


def test_attention_checks_show_the_image_in_the_top1_panel_and_white_in_the_others(tiny_spec, csv_dataset,
                                                                                   isolated_media):
    study = build_study(request_for(tiny_spec, csv_dataset, attention_checks=2), progress=False)
    checks = list(study.items.filter(is_attention_check=True))
    assert len(checks) == 2 and study.items.count() == 7
    for check in checks:
        assert len(check.options) == 3 and check.options[0] == check.model_prediction == check.answer
        shown = pixels(check.image.read())
        for technique in ARMS:
            stimuli = {s.target: pixels(s.image.read())
                       for s in check.stimuli.filter(arm__technique=technique)}
            assert sorted(stimuli) == sorted(check.options)
            assert np.array_equal(stimuli[check.options[0]], shown)
            for other in check.options[1:]:
                assert stimuli[other].shape == shown.shape and (stimuli[other] == 255).all()


def test_a_control_arm_is_refused_by_the_build_and_the_builder_form(tiny_spec, csv_dataset):
    with pytest.raises(BuildError, match="the distinction design has no control arm"):
        build_study(request_for(tiny_spec, csv_dataset, arms=("gradcam", CONTROL)), progress=False)
    form = StudyBuilderForm({"design": "distinction", "panels": 3, "arms": ["gradcam", CONTROL]})
    assert not form.is_valid()
    assert form.errors["arms"] == ["the distinction design has no control arm: its panels are the "
                                   "explanations"]
    assert "design" not in form.errors
    assert not Study.objects.exists()


def test_more_panels_than_the_model_has_classes_is_refused(tiny_spec, csv_dataset, tmp_path, isolated_media):
    torch.manual_seed(0)
    torch.save(SmallCNN(num_classes=3).state_dict(), tmp_path / "three.pt")
    spec = json.loads(tiny_spec.read_text()) | {"checkpoint": str(tmp_path / "three.pt"), "num_classes": 3,
                                                "class_names": ["a", "b", "c"]}
    (tmp_path / "three.json").write_text(json.dumps(spec))
    with pytest.raises(BuildError, match="the model has 3 classes, fewer than the 4 panels asked for"):
        build_study(request_for(tmp_path / "three.json", csv_dataset, design_options={"k": 4}),
                    progress=False)
    with pytest.raises(BuildError, match="k, the panels per image, is a whole number from 2 to 6, got 7"):
        build_study(request_for(tiny_spec, csv_dataset, design_options={"k": 7}), progress=False)
    assert not Study.objects.exists()


@pytest.mark.parametrize("argument, message", [
    ("{k: 3}", "--design-options: not valid JSON"),
    ("[3]", "--design-options: give a JSON object"),
    ('{"k": 3, "panels": 2}', "distinction design: unknown distinction option(s) ['panels']; the design "
                              "takes: k, show_labels, ask_correct_class"),
    ('{"ask_correct_class": true}', "asking which class is correct needs the class names shown"),
])
def test_bad_design_options_are_refused_with_a_clear_message(tiny_spec, csv_dataset, argument, message):
    with pytest.raises(CommandError) as raised:
        call_command("build_study", "d1", "--model", str(tiny_spec), "--dataset", str(csv_dataset),
                     "--arms", "gradcam", "--design", "distinction", "--design-options", argument,
                     verbosity=0)
    assert message in str(raised.value)
    assert not Study.objects.exists()
