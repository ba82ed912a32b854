"""build_demo end to end with short training: the demo study, the login (DEBUG=1 only), the link printed
last, a second run that reuses everything and leaves the study alone, and a run with DEBUG=0 that leaves
no known password behind."""

import io

import pytest
import skimage.data
from django.contrib.auth import authenticate
from django.core.management import call_command

from study.models import Study
from study.services import demo

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def quick_demo(monkeypatch, isolated_media):
    monkeypatch.setattr(demo, "TRAINING", demo.TRAINING | {"epochs": 1})
    monkeypatch.setattr(demo, "DECODER_EPOCHS", 1)
    monkeypatch.setattr(demo, "DECODER_IMAGES", 64)
    monkeypatch.setattr(demo, "GALLERY_METHODS", ("gradcam",))
    monkeypatch.setattr(
        demo, "gallery_photos", lambda: {"coffee": (skimage.data.coffee(), "scikit-image, CC0")}
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
    user = authenticate(username=demo.RESEARCHER, password=demo.PASSWORD)
    assert user is not None and user.is_staff and study.owner == user

    second = run_build_demo()
    assert second[-1] == "http://127.0.0.1:8000/s/demo/"
    assert any("(cached)" in line for line in second) and any("left as it was" in line for line in second)
    assert Study.objects.get(slug="demo").pk == study.pk

    settings.DEBUG = False
    production = run_build_demo()
    assert any("disabled the known demo password" in line for line in production)
    assert any("no demo login with DEBUG=0" in line for line in production)
    assert authenticate(username=demo.RESEARCHER, password=demo.PASSWORD) is None
    assert Study.objects.get(slug="demo").owner is None
