"""python manage.py precompute_heatmaps: fills settings.EXPLAINER_CACHE_DIR, reuses it, clear errors."""
import json
from io import StringIO

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command
from PIL import Image

from explainers.nets import SmallCNN


@pytest.fixture
def spec(tmp_path) -> str:
    torch.manual_seed(0)
    torch.save(SmallCNN(num_classes=3).state_dict(), tmp_path / "weights.pt")
    (tmp_path / "model.json").write_text(json.dumps({
        "arch": "small_cnn", "checkpoint": "weights.pt", "num_classes": 3, "class_names": ["a", "b", "c"],
        "input_size": 32}))
    return str(tmp_path / "model.json")


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images" / "nested"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("one.png", "two.jpg"):
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return tmp_path / "images"


def run(*args) -> str:
    out = StringIO()
    call_command("precompute_heatmaps", *args, stdout=out, verbosity=0)
    return out.getvalue()


def test_fills_the_default_cache_and_reuses_it(settings, spec, images):
    args = ["--model", spec, "--images", str(images), "--methods", "gradcam,fem", "--targets", "0,2",
            "--device", "cpu", "--batch-size", "2"]
    assert "8 maps for 2 images and 2 method(s)" in run(*args)
    entries = sorted(p for p in settings.EXPLAINER_CACHE_DIR.glob("??/*") if p.is_dir())
    assert len(entries) == 8
    assert all((p / "map.npy").is_file() and (p / "overlay.png").is_file() for p in entries)
    before = {p: (p / "provenance.json").stat().st_mtime_ns for p in entries}
    run(*args)
    assert {p: (p / "provenance.json").stat().st_mtime_ns for p in entries} == before


def test_predicted_targets_and_explicit_cache(tmp_path, spec, images):
    out = run("--model", spec, "--images", str(images), "--cache", str(tmp_path / "elsewhere"))
    assert "2 maps for 2 images" in out and len(list((tmp_path / "elsewhere" / "predictions").iterdir())) == 2


@pytest.mark.parametrize(("change", "message"), [
    ({"--images": "/nowhere"}, "is not a folder"),
    ({"--methods": "gradcam,nonsense"}, "unknown method 'nonsense'"),
    ({"--methods": "gradcam,pv"}, "pv cannot be used here"),
    ({"--targets": "first"}, "--targets must be"),
    ({"--targets": "7"}, "class indices in \\[0, 3\\)"),
    ({"--model": "resnet9000"}, "neither 'efficientnet-lite0' nor an existing JSON file"),
])
def test_bad_arguments_are_clear_and_write_nothing(settings, spec, images, change, message):
    args = {"--model": spec, "--images": str(images), "--methods": "gradcam", **change}
    with pytest.raises(CommandError, match=message):
        run(*[part for pair in args.items() for part in pair])
    assert not settings.EXPLAINER_CACHE_DIR.exists()


def test_empty_folder_is_refused(tmp_path, spec):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="no images"):
        run("--model", spec, "--images", str(tmp_path / "empty"))
