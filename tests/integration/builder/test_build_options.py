"""build_study's options for the builder page: attention checks (how many, where) and the jet rendering."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from explainers import load_model
from explainers.render import jet_overlay, resize_maps
from study.models import Item, Study
from study.building.build import build_study
from study.building.rendering import display_image
from study.building.request import BuildError, BuildRequest
from study.building.selection import attention_positions

pytestmark = pytest.mark.django_db


def request_for(spec, dataset, **fields) -> BuildRequest:
    return BuildRequest(**(dict(slug="s1", model=str(spec), dataset=dataset, arms=("gradcam", "gradient"),
                                n_correct=3, n_incorrect=2, seed=3) | fields))


def test_attention_checks_sit_at_the_asked_positions_unmasked_with_the_correct_class(
    tiny_spec, csv_dataset, isolated_media
):
    study = build_study(request_for(tiny_spec, csv_dataset, attention_checks=2, attention_positions=(2, 7)),
                        progress=False)
    items = list(study.items.order_by("position"))
    assert [i.position for i in items] == list(range(7))
    checks = [i for i in items if i.is_attention_check]
    assert [i.position for i in checks] == [1, 6]
    model = load_model(tiny_spec)
    for check in checks:
        image = Image.open(csv_dataset / check.name).convert("RGB")
        top1 = model.class_names[int(model.module(model.preprocess([image])).argmax())]
        assert check.expected_option == check.model_prediction == top1 == check.true_labels[0]
        assert check.answer in check.options and check.model_correct
        shown = np.asarray(Image.open(check.image.path).convert("RGB"))
        assert np.array_equal(shown, np.asarray(display_image(image)))  # the image itself, unmasked
        assert {s.image.read() for s in check.stimuli.all()} == {check.image.read()}
        assert check.stimuli.count() == 2
    assert sum(not i.is_attention_check for i in items) == 5
    assert "You will see 7 images" in Study.objects.get().consent_text
    assert len({i.name for i in items}) == 7  # checks are images not used as questions


def test_attention_checks_spread_evenly_when_no_positions_are_given():
    request = BuildRequest(slug="x", model="m", dataset=None, attention_checks=2)
    assert attention_positions(request, 9) == [2, 5]
    assert attention_positions(BuildRequest(slug="x", model="m", dataset=None), 9) == []


@pytest.mark.parametrize("fields", [dict(attention_checks=2, attention_positions=(1,)),
                                    dict(attention_checks=1, attention_positions=(99,)),
                                    dict(rendering="sepia")])
def test_bad_attention_or_rendering_options_create_nothing(tiny_spec, csv_dataset, isolated_media, fields):
    with pytest.raises(BuildError):
        build_study(request_for(tiny_spec, csv_dataset, **fields), progress=False)
    assert not Study.objects.exists() and not Item.objects.exists()


def test_jet_rendering_blends_the_map_over_the_image(tiny_spec, csv_dataset, isolated_media):
    import explainers

    study = build_study(request_for(tiny_spec, csv_dataset, arms=("gradcam",), rendering="jet"),
                        progress=False)
    item = study.items.order_by("position").first()
    model = load_model(tiny_spec)
    image = Image.open(csv_dataset / item.name).convert("RGB")
    display = display_image(image)
    target = model.class_names.index(item.model_prediction)
    cam = explainers.explain(model, model.preprocess([image]), [target], "gradcam").detach().float()
    pixels = torch.from_numpy(np.asarray(display, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    resized = resize_maps(cam, (display.height, display.width)).clamp(0, 1)
    expected = jet_overlay(pixels, resized)[0].permute(1, 2, 0).numpy() * 255
    shown = np.asarray(Image.open(io.BytesIO(item.stimuli.get().image.read())).convert("RGB"), dtype=float)
    # jet is a 256-entry table: where map * 255 sits on a rounding tie, float noise between the build's
    # batch and this single image can pick the next entry, up to 2.2 grey levels away after the blend.
    level = resized[0].numpy() * 255
    tie = np.abs(level - np.floor(level) - 0.5) < 1e-3
    difference = np.abs(shown - expected).max(axis=2)
    assert difference[~tie].max() <= 1.0 and difference[tie].max(initial=0) <= 3.0 and tie.mean() < 0.01
    assert study.provenance["rendering"]["overlay"] == "0.5 * image + 0.5 * jet(map)"
