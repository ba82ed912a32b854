"""build_demo end to end with short training: the demo study, the photo studies and demo-learn-predict (on the
biased model) with their links, the login (DEBUG=1 only), the demo's link printed last, a second run that
reuses everything and leaves the studies alone, and a run with DEBUG=0 that leaves no known password behind.
The demo's stimuli follow the PV paper's rule: dark garments on white, the Grad-CAM white mask keeps the
garment where the map is high and is white where it is 0, and the PV images of the grey images are grey.
Grad-CAM and the PV decoder both use the last convolutional block."""

import io

import numpy as np
import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from PIL import Image

from explainers import explain, load_model
from explainers.pv import encoder_of
from explainers.render import resize_maps
from study.models import Study
from study.building import biased, demo

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def quick_demo(monkeypatch, isolated_media):
    monkeypatch.setattr(demo, "TRAINING", demo.TRAINING | {"epochs": 1})
    monkeypatch.setattr(demo, "DECODER_EPOCHS", 1)
    monkeypatch.setattr(demo, "DECODER_IMAGES", 64)
    # A decoder trained for one epoch on 64 images cannot beat the mean image; the gate has its own tests.
    monkeypatch.setattr(demo, "DECODER_MARGINS", (-1.0, -100.0))
    monkeypatch.setattr(demo, "GALLERY_METHODS", ("gradcam",))  # on every photo: the photo studies need them
    monkeypatch.setattr(biased, "TRAIN_IMAGES", 500)  # the bias itself is tested in test_biased.py
    monkeypatch.setattr(biased, "TRAINING", biased.TRAINING | {"epochs": 1})


PHOTO_STUDIES = (
    "study 'demo-agreement' (agreement design, arms gradcam, none): 5 items, {state}: "
    "http://127.0.0.1:8000/s/demo-agreement/\n"
    "study 'demo-distinction' (distinction design, arms gradcam, gradcam++): 5 items, {state}: "
    "http://127.0.0.1:8000/s/demo-distinction/\n"
    "study 'demo-attention' (attention design, arms none): 5 items, {state}: "
    "http://127.0.0.1:8000/s/demo-attention/\n"
    "study 'demo-learn-predict' (learn_predict design, arms gradcam, none): 24 items, {state}: "
    "http://127.0.0.1:8000/s/demo-learn-predict/"
)


def run_build_demo() -> list[str]:
    out = io.StringIO()
    call_command("build_demo", verbosity=0, stdout=out)
    return out.getvalue().strip().splitlines()


def test_build_demo_builds_once_and_then_reuses_everything(quick_demo, settings):
    settings.DEBUG = True
    first = run_build_demo()
    assert first[-1] == "http://127.0.0.1:8000/s/demo/"
    assert any("trained now" in line for line in first) and any("built now" in line for line in first)
    study = Study.objects.get(slug="demo")
    assert study.status == Study.Status.OPEN
    assert study.items.filter(model_correct=True).count() == 16
    assert study.items.filter(model_correct=False).count() == 14
    assert sorted(study.arms.values_list("technique", flat=True)) == ["gradcam", "pv"]
    assert study.provenance["distractors"] == {"mode": "random", "requested": "auto", "classes": None,
                                               "model_classes": 10}
    assert "Distractor options: random, random classes of the model; the default for a model with 10 " \
           "classes." in first
    user = authenticate(username=demo.RESEARCHER, password=demo.PASSWORD)
    assert user is not None and user.is_staff and study.owner == user
    check_images_are_dark_garments_on_white(study)
    check_stimuli_follow_the_papers_rule(study)
    assert PHOTO_STUDIES.format(state="built now") in "\n".join(first)
    assert any(line.startswith("biased classifier (a corner mark on Sandal): ") for line in first)
    learn_predict = Study.objects.get(slug="demo-learn-predict")
    assert learn_predict.design_options == biased.LEARN_PREDICT and learn_predict.owner == user
    assert learn_predict.items.filter(model_correct=False).count() == 6  # 1 of 4 in each of the 6 blocks
    spec_path = biased.ensure_biased_classifier().spec_path
    assert learn_predict.provenance["model"]["spec"] == str(spec_path)
    folder = biased.ensure_biased_dataset(spec_path)
    for item in learn_predict.items.filter(model_correct=False):  # errors the mark causes
        assert (np.asarray(Image.open(folder / item.name))[1:5, 1:5] == 0).all(), item.name

    second = run_build_demo()
    assert second[-1] == "http://127.0.0.1:8000/s/demo/"
    assert any("(cached)" in line for line in second) and any("left as it was" in line for line in second)
    assert Study.objects.get(slug="demo").pk == study.pk
    assert PHOTO_STUDIES.format(state="already built, left as it was") in "\n".join(second)
    assert Study.objects.get(slug="demo-learn-predict").pk == learn_predict.pk

    settings.DEBUG = False
    production = run_build_demo()
    assert any("disabled the known demo password" in line for line in production)
    assert any("no demo login with DEBUG=0" in line for line in production)
    assert authenticate(username=demo.RESEARCHER, password=demo.PASSWORD) is None
    assert Study.objects.get(slug="demo").owner is None


def pixels(field) -> np.ndarray:
    """A stored PNG as (H, W, 3) float in [0, 1]."""
    with Image.open(field.path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255


def check_images_are_dark_garments_on_white(study: Study) -> None:
    borders, means = [], []
    for item in study.items.all():
        image = pixels(item.image)
        edges = [image[:8], image[-8:], image[:, :8].swapaxes(0, 1), image[:, -8:].swapaxes(0, 1)]
        border = np.concatenate(edges)
        assert np.median(border) == 1.0, item.name  # a white background (garments may touch the edge)
        assert image.min() < 0.5, item.name  # a dark garment
        borders.append(border.mean())
        means.append(image.mean())
    assert np.mean(borders) > 0.9 and np.mean(means) > 0.5  # light on black would give about 0.05 and 0.3


def check_stimuli_follow_the_papers_rule(study: Study) -> None:
    model = load_model(study.provenance["model"]["spec"])
    assert model.grayscale and model.target_layer == demo.TARGET_LAYER == "features.block3"  # the last block
    # PV inverts the pooled features the classifier decides from: the last block would be copied back
    assert study.provenance["decoder"]["layer"] == demo.DECODER_LAYER == "classifier.0"
    dataset = demo.ensure_dataset()
    items = list(study.items.order_by("position"))
    batch = model.preprocess([dataset / item.name for item in items])
    assert tuple(encoder_of(model)(model.to_display(batch)).shape[1:]) == (128, 8, 8)  # Grad-CAM's grid
    targets = [model.class_names.index(item.model_prediction) for item in items]
    maps = explain(model, batch, targets, "gradcam")
    changed_low = changed_high = 0.0
    n_low = n_high = 0
    for item, m in zip(items, maps):
        image = pixels(item.image)
        stimuli = {s.arm.technique: pixels(s.image) for s in item.stimuli.select_related("arm")}
        pv = stimuli["pv"]
        assert np.array_equal(pv[..., 0], pv[..., 1]) and np.array_equal(pv[..., 0], pv[..., 2]), item.name
        gradcam = stimuli["gradcam"]
        m = resize_maps(m[None], image.shape[:2])[0].clamp(0, 1).numpy()
        assert np.all(gradcam[m == 0] == 1.0), item.name  # white where the map is 0
        garment = image.mean(axis=2) < 0.8
        change = np.abs(gradcam - image).mean(axis=2)
        low, high = garment & (m < 0.25), garment & (m > 0.75)
        changed_low, n_low = changed_low + change[low].sum(), n_low + low.sum()
        changed_high, n_high = changed_high + change[high].sum(), n_high + high.sum()
    assert n_low > 0 and n_high > 0
    assert changed_low / n_low > 2 * changed_high / n_high  # faded where the map is low, kept where high
