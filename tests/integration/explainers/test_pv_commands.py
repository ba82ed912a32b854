"""train_pv_decoder and compare_decoders, run as a researcher would on a small real model and photos."""

import json

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command
from PIL import Image
from skimage import data

from explainers.models import weights_hash
from explainers.nets import SmallCNN

pytestmark = pytest.mark.slow  # three short CPU trainings


@pytest.fixture
def spec(tmp_path):
    """A seeded SmallCNN saved as a checkpoint with its JSON spec (32x32 inputs)."""
    torch.manual_seed(0)
    torch.save(SmallCNN().state_dict(), tmp_path / "model.pt")
    path = tmp_path / "spec.json"
    path.write_text(
        json.dumps({"arch": "small_cnn", "checkpoint": "model.pt", "num_classes": 10, "input_size": 32})
    )
    return path


@pytest.fixture
def images(tmp_path):
    """12 PNG crops of scikit-image photos, in two sub-folders."""
    rng = np.random.default_rng(0)
    for i, name in enumerate(["astronaut", "coffee", "chelsea", "rocket"] * 3):
        photo = getattr(data, name)()
        top, left = rng.integers(0, photo.shape[0] - 80), rng.integers(0, photo.shape[1] - 80)
        folder = tmp_path / "images" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo[top : top + 80, left : left + 80]).save(folder / f"{name}-{i}.png")
    return tmp_path / "images"


def run(*args, **options) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out, verbosity=0, **options)
    return out.getvalue()


def test_train_resume_and_compare(spec, images, tmp_path):
    common = {"model": str(spec), "images": str(images), "batch_size": 4, "lr": 1e-3, "device": "cpu"}
    out = run("train_pv_decoder", out=str(tmp_path / "a.pt"), epochs=1, seed=0, **common)
    assert "held-out images: 1" in out and (tmp_path / "a.pt").is_file()
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in rows] == ["0", "1"]

    resumed = run("train_pv_decoder", out=str(tmp_path / "a.pt"), epochs=2, seed=0, resume=True, **common)
    assert [line.split()[0] for line in resumed.splitlines() if line.strip()[:1].isdigit()] == ["0", "1", "2"]
    assert resumed.splitlines()[1:3] == out.splitlines()[1:3]  # epochs 0 and 1 kept as they were

    run("train_pv_decoder", out=str(tmp_path / "b.pt"), epochs=1, seed=1, **common)
    report = run(
        "compare_decoders",
        str(tmp_path / "a.pt"),
        str(tmp_path / "b.pt"),
        model=str(spec),
        images=str(images),
    )
    lines = report.splitlines()
    margins, lines = lines[-2:], lines[:-2]
    for name, line in zip("AB", margins):  # each decoder's margin over the mean image, beside the agreement
        assert line.startswith(f"decoder {name} (") and "held-out SSIM" in line and "on 12 images" in line
        assert "margin" in line and "mean image" in line and "PSNR" in line
    assert lines[0].split() == ["image", "SSIM", "Pearson", "r"]
    assert len(lines) == 1 + 12 + 1 and lines[1].startswith("a/coffee-1.png")
    ssims = [float(line.split()[1]) for line in lines[1:-1]]
    assert all(-1 <= s <= 1 for s in ssims)
    assert (
        lines[-1].startswith("mean +- SD")
        and f"{np.mean(ssims):.4f}" in lines[-1]
        and "(12 images)" in lines[-1]
    )


def test_clear_errors(spec, images, tmp_path):
    common = {"model": str(spec), "images": str(images), "epochs": 1, "batch_size": 4, "device": "cpu"}
    with pytest.raises(CommandError, match="image folder not found"):
        run("train_pv_decoder", out=str(tmp_path / "x.pt"), **{**common, "images": str(tmp_path / "nowhere")})
    with pytest.raises(CommandError, match="neither"):
        run("train_pv_decoder", out=str(tmp_path / "x.pt"), **{**common, "model": "no-such-model"})
    assert not (tmp_path / "x.pt").exists()

    run("train_pv_decoder", out=str(tmp_path / "a.pt"), **common)
    with pytest.raises(CommandError, match="already exists"):
        run("train_pv_decoder", out=str(tmp_path / "a.pt"), **common)

    torch.manual_seed(1)
    torch.save(SmallCNN().state_dict(), tmp_path / "model.pt")  # same spec, other weights
    with pytest.raises(CommandError, match="trained for another model"):
        run(
            "compare_decoders",
            str(tmp_path / "a.pt"),
            str(tmp_path / "a.pt"),
            model=str(spec),
            images=str(images),
        )


@pytest.mark.django_db
def test_train_on_the_data_set_a_study_was_built_from(spec, images, tmp_path):
    from study.models import Study

    names = sorted(str(path.relative_to(images)) for path in images.rglob("*.png"))[:4]
    (images / "labels.csv").write_text("image,labels\n" + "".join(f"{name},thing\n" for name in names))
    Study.objects.create(slug="s1", title="S1", provenance={"dataset": {"path": str(images)}})
    Study.objects.create(slug="old", title="Old")
    common = {"model": str(spec), "epochs": 1, "batch_size": 4, "device": "cpu"}

    out = run("train_pv_decoder", study="s1", out=str(tmp_path / "a.pt"), **common)

    assert "held-out images: 1" in out and (tmp_path / "a.pt").is_file()
    with pytest.raises(CommandError, match="No study"):
        run("train_pv_decoder", study="nope", out=str(tmp_path / "b.pt"), **common)
    with pytest.raises(CommandError, match="records no data set"):
        run("train_pv_decoder", study="old", out=str(tmp_path / "b.pt"), **common)


def test_a_full_pickled_module_loads_only_with_trust_checkpoint(images, tmp_path):
    torch.manual_seed(0)
    module = SmallCNN()
    torch.save(module, tmp_path / "full.pt")
    spec = tmp_path / "full.json"
    spec.write_text(json.dumps({"checkpoint": "full.pt", "num_classes": 10, "input_size": 32}))
    common = {"model": str(spec), "images": str(images), "epochs": 1, "batch_size": 4, "device": "cpu"}
    with pytest.raises(CommandError, match="full.pt was refused: .* --trust-checkpoint"):
        run("train_pv_decoder", out=str(tmp_path / "x.pt"), **common)
    assert not (tmp_path / "x.pt").exists()

    out = run("train_pv_decoder", "--trust-checkpoint", out=str(tmp_path / "a.pt"), **common)

    assert "decoder written to" in out
    decoder = torch.load(tmp_path / "a.pt", weights_only=True)
    assert decoder["weights_hash"] == weights_hash(module)
    with pytest.raises(CommandError, match="--trust-checkpoint loads the checkpoint in this process only"):
        run("precompute_heatmaps", "--model", str(spec), "--images", str(images), "--trust-checkpoint",
            "--enqueue")
