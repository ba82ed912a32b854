"""A tiny real classifier and decoder trained in seconds, and small data sets built from the
bundled Fashion-MNIST images in both layouts the builder reads."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from django.contrib.auth.models import Permission
from PIL import Image

from explainers import load_model
from explainers.classifier import train_classifier
from explainers.nets import SmallCNN
from explainers.pv import train_decoder

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "fashion_mnist_subset.npz"
N_IMAGES = 60  # test images per data set


@pytest.fixture(scope="session")
def fashion() -> dict:
    with np.load(FIXTURE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def class_names(fashion) -> list[str]:
    return [str(name) for name in fashion["class_names"]]


def train_tiny(folder: Path, fashion: dict, multi_label: bool) -> Path:
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10)
    train_classifier(
        model,
        (fashion["x_train"][:1000], fashion["y_train"][:1000]),
        (fashion["x_test"][:100], fashion["y_test"][:100]),
        size=32,
        mean=(0.286,) * 3,
        std=(0.353,) * 3,
        epochs=1,
        seed=0,
        progress=False,
    )
    torch.save(model.state_dict(), folder / "model.pt")
    spec = {
        "arch": "small_cnn",
        "checkpoint": "model.pt",
        "num_classes": 10,
        "class_names": [str(name) for name in fashion["class_names"]],
        "input_size": 32,
        "mean": [0.286] * 3,
        "std": [0.353] * 3,
        "multi_label": multi_label,
        "threshold": 0.8,
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    return folder / "spec.json"


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory, fashion) -> Path:
    """A single-label SmallCNN trained for one epoch on 1,000 images: about 65 % right, real mistakes."""
    return train_tiny(tmp_path_factory.mktemp("tiny"), fashion, multi_label=False)


@pytest.fixture(scope="session")
def tiny_multi_spec(tiny_spec) -> Path:
    """The same weights read as a multi-label model (sigmoid scores, threshold 0.8)."""
    spec = json.loads(tiny_spec.read_text()) | {
        "multi_label": True,
        "checkpoint": str(tiny_spec.parent / "model.pt"),
    }
    path = tiny_spec.parent / "multi.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory, tiny_spec, fashion) -> Path:
    """A PV decoder of the tiny model, one epoch on 128 images (poor pictures, real ones)."""
    path = tmp_path_factory.mktemp("decoder") / "decoder.pt"
    train_decoder(
        load_model(tiny_spec),
        list(fashion["x_train"][:128]),
        path,
        epochs=1,
        seed=0,
        device="cpu",
        progress=False,
    )
    return path


def write_csv_dataset(folder: Path, fashion: dict, n: int = N_IMAGES) -> Path:
    """n test images as PNG files with a labels.csv (one label each)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["image,labels"]
    for i in range(n):
        Image.fromarray(fashion["x_test"][i]).save(folder / f"img_{i:03d}.png")
        rows.append(f"img_{i:03d}.png,{fashion['class_names'][fashion['y_test'][i]]}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def voc_xml(filename: str, labels: list[str]) -> str:
    objects = "".join(
        f"<object><name>{label}</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>27</xmax>"
        f"<ymax>27</ymax></bndbox></object>"
        for label in labels
    )
    return f"<annotation><folder>VOC</folder><filename>{filename}</filename>{objects}</annotation>"


def write_voc_dataset(folder: Path, fashion: dict, n: int = N_IMAGES) -> Path:
    """n test images in the VOC layout; every third image also carries a second (neighbouring) label."""
    (folder / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (folder / "Annotations").mkdir(exist_ok=True)
    names = fashion["class_names"]
    for i in range(n):
        label = int(fashion["y_test"][i])
        labels = [names[label]] + ([names[(label + 1) % 10]] if i % 3 == 0 else [])
        Image.fromarray(fashion["x_test"][i]).convert("RGB").save(
            folder / "JPEGImages" / f"{i:06d}.jpg", quality=95
        )
        (folder / "Annotations" / f"{i:06d}.xml").write_text(voc_xml(f"{i:06d}.jpg", labels))
    return folder


@pytest.fixture
def csv_dataset(tmp_path, fashion) -> Path:
    return write_csv_dataset(tmp_path / "csv-data", fashion)


@pytest.fixture
def voc_dataset(tmp_path, fashion) -> Path:
    return write_voc_dataset(tmp_path / "voc-data", fashion)


@pytest.fixture
def researcher(django_user_model):
    """A staff user with the "add study" permission: may use the builder page."""
    user = django_user_model.objects.create_user("builder", password="pw-Secret-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_study"))
    return user


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client
