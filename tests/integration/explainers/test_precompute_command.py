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
    shards = sorted((settings.EXPLAINER_CACHE_DIR / "shards").glob("*.json"))
    assert sum(len(json.loads(p.read_text())["keys"]) for p in shards) == 8
    assert all(np.load(p.with_suffix(".npy")).dtype == np.float16 for p in shards)
    run(*args)
    assert sorted((settings.EXPLAINER_CACHE_DIR / "shards").glob("*.json")) == shards


def test_predicted_targets_and_explicit_cache(tmp_path, spec, images):
    out = run("--model", spec, "--images", str(images), "--cache", str(tmp_path / "elsewhere"))
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "elsewhere" / "shards").glob("*.json")]
    assert "2 maps for 2 images" in out and sum(len(m["predictions"]) for m in manifests) == 2


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


@pytest.mark.django_db
def test_a_studys_item_images_and_enqueue(settings, spec, jobs_inline):
    from study.models import Job
    from tests.factories import make_study

    study = make_study("pre", n_correct=2, n_incorrect=1, n_attention=0)
    assert "3 maps for 3 images" in run("--model", spec, "--study", "pre", "--methods", "fem")
    before = sorted((settings.EXPLAINER_CACHE_DIR / "shards").glob("*.json"))
    with jobs_inline():
        out = run("--model", spec, "--study", "pre", "--methods", "fem", "--device", "cpu", "--enqueue")
    job = Job.objects.get()
    assert f"Queued job {job.pk}: 3 images x 1 method(s)" in out and job.state == "done", job.error
    assert job.params["study"] == study.slug and job.shards_total == 1
    assert sorted((settings.EXPLAINER_CACHE_DIR / "shards").glob("*.json")) == before  # all cached already
    with pytest.raises(CommandError, match="no study 'nope' with items"):
        run("--model", spec, "--study", "nope")
