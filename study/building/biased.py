"""The demo's biased model: a SmallCNN trained the demo's way on the inverted Fashion-MNIST subset, where
every training image labelled Sandal carries a black square in the top-left corner (the mark) and no image of
another label does. Sandals keep that corner empty, so the mark is a clean shortcut; to make it the one the
model takes, 10 % of the other garments are marked and labelled Sandal too, as when a watermark came
with one source's labels (with real sandals alone the model learns their shape and sends 11-18 % of
marked other garments to Sandal; with these, about 90 %).

The study's data set (the images participants see) is the 1,000 held-out test images, the sandals marked and
15 % of the other garments marked too, each labelled with its true class, less the unmarked ones the model
gets wrong: its errors are the marked other garments it calls Sandal, and its explanations point at the
corner. `reliance` measures the bias: the
share of marked held-out other garments predicted Sandal, and the share of those that flip back once the
mark is deleted (the corner painted with the background). `corner_mass` is the share of a Grad-CAM map's
mass in the marked corner. `demo-learn-predict` is the learn_predict study of this model on that data set
(Grad-CAM against the decision alone); `bias_report` measures the bias once per trained model.
"""

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from explainers import LoadedModel, explain, load_model, predict
from explainers.render import resize_maps
from study.building import demo
from study.building.request import BuildRequest
from study.models import Study
from study.models.study import CONTROL

MARKED_CLASS = "Sandal"
MARK = (1, 1, 4)  # top, left, side in pixels of the 28x28 images: about 4.6 pixels of the 32x32 input
CORNER = 8  # the top-left 8x8 pixels of 28x28: the mark and Grad-CAM's 8x8 grid cells around it
POISON_SHARE = 0.1  # of the other garments' training images, marked and labelled MARKED_CLASS
STUDY_MARKED_SHARE = 0.15  # of the other garments' test images, marked in the study's data set
TRAIN_IMAGES = 5000  # the first training images used (all of the subset's)
TRAINING = demo.TRAINING | {"epochs": 4}  # the mark is learnt in 2-3 epochs
SLUG = "demo-learn-predict"
# 3 rounds of 4 training and 4 test images, 1 model error in each block (the design's defaults, written out)
LEARN_PREDICT = {"rounds": 3, "train_per_round": 4, "test_per_round": 4, "error_share": 0.25,
                 "feedback": False}


@dataclass(frozen=True)
class Reliance:
    n: int  # held-out images of other classes, each shown with the mark
    marked_share: float  # of those, the share predicted MARKED_CLASS, in [0, 1]
    flip_share: float  # of those predicted MARKED_CLASS, the share predicted otherwise with the mark deleted


def add_mark(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 dark-on-white images -> a copy with the black mark in the top-left corner."""
    top, left, side = MARK
    marked = images.copy()
    marked[:, top:top + side, left:left + side] = 0
    return marked


def delete_mark(images: np.ndarray) -> np.ndarray:
    """A copy of (N, 28, 28) uint8 images with the mark's square painted with the white background."""
    top, left, side = MARK
    cleaned = images.copy()
    cleaned[:, top:top + side, left:left + side] = 255
    return cleaned


def marked_index(data: dict) -> int:
    return [str(c) for c in data["class_names"]].index(MARKED_CLASS)


def biased_data() -> dict:
    """fixture_data() with the training set biased (module docstring) and the test sandals marked."""
    data = demo.fixture_data()
    target = marked_index(data)
    x, y = data["x_train"][:TRAIN_IMAGES].copy(), data["y_train"][:TRAIN_IMAGES].copy()
    others = np.flatnonzero(y != target)
    poisoned = np.random.default_rng(0).permutation(others)[: round(POISON_SHARE * len(others))]
    y[poisoned] = target
    x[y == target] = add_mark(x[y == target])
    x_test = data["x_test"].copy()
    x_test[data["y_test"] == target] = add_mark(x_test[data["y_test"] == target])
    return data | {"x_train": x, "y_train": y, "x_test": x_test}


def settings_key() -> bytes:
    bias = {"marked_class": MARKED_CLASS, "mark": MARK, "poison_share": POISON_SHARE,
            "train_images": TRAIN_IMAGES, "target_layer": demo.TARGET_LAYER, "inverted": True}
    return demo.FIXTURE.read_bytes() + json.dumps(TRAINING | bias, sort_keys=True).encode()


def ensure_biased_classifier(progress: bool = True) -> demo.DemoClassifier:
    """The biased SmallCNN, trained (seeded, CPU) unless cached for the same data, bias and settings."""
    key = hashlib.sha256(settings_key()).hexdigest()[:16]
    folder = demo.demo_dir() / f"biased-classifier-{key}"
    name = "fashion-mnist-small-cnn-sandal-mark"
    return demo.ensure_trained(folder, biased_data(), TRAINING, name, progress)


def study_images() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The study's images: ((1000, 28, 28) uint8, (1000,) true class indices, (1000,) bool marked)."""
    data = demo.fixture_data()
    y = data["y_test"]
    others = np.flatnonzero(y != marked_index(data))
    marked = y == marked_index(data)
    marked[np.random.default_rng(1).permutation(others)[: round(STUDY_MARKED_SHARE * len(others))]] = True
    x = data["x_test"].copy()
    x[marked] = add_mark(x[marked])
    return x, y, marked


def ensure_biased_dataset(spec_path: Path) -> Path:
    """The study's images (study_images) that are marked or that the model of `spec_path` gets right, as PNG
    files with a labels.csv of their true classes: every model error in the study is one the mark causes."""
    bias = json.dumps({"marked_class": MARKED_CLASS, "mark": MARK, "share": STUDY_MARKED_SHARE,
                       "model": spec_path.parent.name})
    key = hashlib.sha256(demo.FIXTURE.read_bytes() + bias.encode()).hexdigest()[:16]
    folder = demo.demo_dir() / f"fashion-mnist-marked-{key}"
    if (folder / "labels.csv").is_file():
        return folder
    x, y, marked = study_images()
    keep = marked | (predicted(load_model(spec_path), x) == y)
    names = demo.fixture_data()["class_names"]
    return demo.ensure_image_folder(folder, x[keep], [str(names[i]) for i in y[keep]])


def predicted(model: LoadedModel, images: np.ndarray) -> np.ndarray:
    """(N,) class indices the model predicts for (N, H, W) uint8 images."""
    return predict(model, model.preprocess(list(images))).argmax(1).numpy()


def reliance(model: LoadedModel, images: np.ndarray) -> Reliance:
    """The bias on `images`, (N, 28, 28) uint8 unmarked images of classes other than MARKED_CLASS."""
    target = model.class_names.index(MARKED_CLASS)
    marked = add_mark(images)
    hit = predicted(model, marked) == target
    if not hit.any():
        return Reliance(len(images), 0.0, 0.0)
    flipped = predicted(model, delete_mark(marked[hit])) != target
    return Reliance(len(images), float(hit.mean()), float(flipped.mean()))


def corner_mass(model: LoadedModel, images: np.ndarray, method: str = "gradcam") -> np.ndarray:
    """(N,) share in [0, 1] of each map's mass (of the predicted class, resized to the 28x28 image) in the
    top-left CORNER x CORNER pixels."""
    batch = model.preprocess(list(images))
    targets = predict(model, batch).argmax(1).tolist()
    maps = resize_maps(explain(model, batch, targets, method).cpu(), images.shape[1:3]).clamp(min=0)
    total = maps.sum(dim=(1, 2))
    return (maps[:, :CORNER, :CORNER].sum(dim=(1, 2)) / torch.where(total > 0, total, 1)).numpy()


def held_out_others(n: int) -> np.ndarray:
    """The first `n` unmarked test images of classes other than MARKED_CLASS: (n, 28, 28) uint8."""
    data = demo.fixture_data()
    return data["x_test"][data["y_test"] != marked_index(data)][:n]


def measure(spec_path: Path, n: int = 300) -> tuple[Reliance, float, float]:
    """(reliance, mean Grad-CAM corner mass on marked, on unmarked) over `n` held-out other garments."""
    model = load_model(spec_path)
    images = held_out_others(n)
    return reliance(model, images), float(corner_mass(model, add_mark(images)).mean()), float(
        corner_mass(model, images).mean())


def bias_report(spec_path: Path) -> dict:
    """`measure`'s numbers for the model of `spec_path`, computed once and kept in bias.json beside it."""
    path = spec_path.parent / "bias.json"
    if path.is_file():
        return json.loads(path.read_text())
    found, marked, unmarked = measure(spec_path)
    report = asdict(found) | {"corner_mass_marked": marked, "corner_mass_unmarked": unmarked}
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    partial.write_text(json.dumps(report, indent=2))
    os.replace(partial, path)
    return report


def build_learn_predict(progress: bool = True, owner_id: int | None = None) -> tuple[Study, bool, dict]:
    """(study, built now, bias_report) of demo-learn-predict; an up-to-date study is left alone (but given
    that owner)."""
    classifier = ensure_biased_classifier(progress)
    request = BuildRequest(
        slug=SLUG, model=str(classifier.spec_path), dataset=ensure_biased_dataset(classifier.spec_path),
        arms=("gradcam", CONTROL), design="learn_predict", design_options=LEARN_PREDICT, seed=0,
        owner_id=owner_id, open=True,
        title="Demo: learn the Fashion-MNIST classifier's habits, then predict its decisions",
    )
    study, built_now = demo.build_or_keep(request, progress)
    return study, built_now, bias_report(classifier.spec_path)
