"""The demo's photo studies on the gallery photos with the bundled EfficientNet-Lite0: demo-agreement
(gradcam and the control arm, the HIVE scale as every item's options) and demo-distinction (gradcam and
gradcam++, one stimulus per panel class: the model's top 4), demo-attention (the control arm alone, each
photo's blurred image, the design's defaults), and a second build that leaves all three alone."""

import pytest
from django.contrib.auth import get_user_model

from study.building import photos
from study.models import Stimulus, Study
from study.survey.designs.agreement import HIVE_SCALE
from study.survey.designs.attention import DEFAULT_TASK

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# EfficientNet-Lite0's top-1 for each photo and the top 4 of the cat, read off the model by hand once
# (chelsea: Egyptian cat 0.794, tiger cat 0.088, tabby 0.070, lynx 0.010).
PREDICTIONS = {"chelsea.png": "Egyptian cat", "coffee.png": "espresso", "rocket.png": "drilling platform",
               "china.png": "bell cote", "flower.png": "daisy"}
CHELSEA_TOP4 = ["Egyptian cat", "tiger cat", "tabby", "lynx"]


def test_photo_studies_are_built_once_with_their_designs(isolated_media):
    owner = get_user_model().objects.create_user("owner", password="pw-owner-123")
    built = photos.build_photo_studies(progress=False, owner_id=owner.pk)
    assert [(study.slug, built_now) for study, built_now in built] == [
        ("demo-agreement", True), ("demo-distinction", True), ("demo-attention", True)]
    agreement, distinction, attention = (study for study, _ in built)
    for study in (agreement, distinction, attention):
        assert study.status == Study.Status.OPEN and study.owner == owner
        assert dict(study.items.values_list("name", "model_prediction")) == PREDICTIONS
        assert sorted(study.items.filter(model_correct=True).values_list("name", flat=True)) == [
            "coffee.png", "flower.png"]
        assert study.items.filter(model_correct=False).count() == 3

    assert agreement.design == "agreement"
    assert agreement.design_options == {"scale": list(HIVE_SCALE)}
    assert sorted(agreement.arms.values_list("technique", flat=True)) == ["gradcam", "none"]
    for item in agreement.items.all():
        assert item.options == list(HIVE_SCALE)
        stimuli = Stimulus.objects.filter(item=item)
        assert [(s.arm.technique, s.target) for s in stimuli] == [("gradcam", item.model_prediction)]

    assert distinction.design == "distinction"
    assert distinction.design_options == {"k": 4, "show_labels": False, "ask_correct_class": False}
    assert sorted(distinction.arms.values_list("technique", flat=True)) == ["gradcam", "gradcam++"]
    assert distinction.items.get(name="chelsea.png").options == CHELSEA_TOP4
    for item in distinction.items.all():
        assert len(item.options) == 4 and item.options[0] == item.model_prediction
        for arm in distinction.arms.all():
            targets = sorted(Stimulus.objects.filter(item=item, arm=arm).values_list("target", flat=True))
            assert targets == sorted(item.options), (item.name, arm.technique)
    assert Stimulus.objects.filter(item__study=distinction).count() == 5 * 4 * 2

    assert attention.design == "attention"
    assert attention.design_options == {"sigma": 40, "radius": 40, "min_clicks": 5, "max_clicks": 100,
                                        "time_limit_s": 0, "task": DEFAULT_TASK}
    assert list(attention.arms.values_list("technique", flat=True)) == ["none"]
    targets = Stimulus.objects.filter(item__study=attention).values_list("target", flat=True)
    assert list(targets) == ["blurred"] * 5
    assert all(item.options == [] for item in attention.items.all())

    stimuli = Stimulus.objects.count()
    again = photos.build_photo_studies(progress=False, owner_id=None)
    assert [(study.pk, built_now) for study, built_now in again] == [
        (agreement.pk, False), (distinction.pk, False), (attention.pk, False)]
    assert Study.objects.count() == 3 and Stimulus.objects.count() == stimuli
    assert all(study.owner is None for study, _ in again)  # left alone, but given the new owner
