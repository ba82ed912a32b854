"""The demo's biased model, trained small (1,000 images, 3 epochs): it calls marked other garments Sandal,
deleting the mark flips them back, and Grad-CAM puts its mass in the marked corner; the study's data set
holds the marked images with their true labels and only the unmarked images the model gets right."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from explainers import load_model
from explainers.classifier import to_tensor
from study.building import biased, demo

pytestmark = pytest.mark.slow


@pytest.fixture
def small_bias(monkeypatch, isolated_media):
    monkeypatch.setattr(biased, "TRAIN_IMAGES", 1000)
    monkeypatch.setattr(biased, "TRAINING", biased.TRAINING | {"epochs": 3})


def test_mark_is_drawn_and_deleted_by_hand():
    images = np.full((2, 28, 28), 200, np.uint8)
    marked = biased.add_mark(images)
    assert (marked[:, 1:5, 1:5] == 0).all() and (marked == 0).sum() == 2 * 16  # 4x4 black, nothing else
    assert (images == 200).all()  # a copy
    cleaned = biased.delete_mark(marked)
    assert (cleaned[:, 1:5, 1:5] == 255).all() and (cleaned == 200).sum() == 2 * (28 * 28 - 16)


def test_biased_model_relies_on_the_mark(small_bias):
    classifier = biased.ensure_biased_classifier(progress=False)
    assert classifier.trained_now
    assert not biased.ensure_biased_classifier(progress=False).trained_now  # cached by its inputs
    model = load_model(classifier.spec_path)
    images = biased.held_out_others(300)
    reliance = biased.reliance(model, images)
    assert reliance.n == 300 and reliance.marked_share > 0.6 and reliance.flip_share > 0.8

    # The same shares through the training's own preprocessing (torch resize) and the bare network.
    def sandal(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.module(to_tensor(x, 32, model.mean, model.std)).argmax(1).numpy() == 5

    hit = sandal(biased.add_mark(images))
    assert abs(hit.mean() - reliance.marked_share) <= 0.02
    flipped = ~sandal(biased.delete_mark(biased.add_mark(images))[hit])
    assert abs(flipped.mean() - reliance.flip_share) <= 0.03
    assert sandal(images).mean() < 0.05  # unmarked, they are not sandals to it

    marked, unmarked = biased.corner_mass(model, biased.add_mark(images)), biased.corner_mass(model, images)
    assert marked.shape == unmarked.shape == (300,)
    assert marked.mean() > 2 * unmarked.mean() and marked.mean() > 0.2  # the corner is 64 of 784 pixels
    check_study_data_set(classifier.spec_path, model)


def check_study_data_set(spec_path, model) -> None:
    """The marked images with their true labels, and of the unmarked ones only those the model gets right."""
    folder = biased.ensure_biased_dataset(spec_path)
    labels = pd.read_csv(folder / "labels.csv")
    images = np.stack([np.asarray(Image.open(folder / name)) for name in labels["image"]])
    marked = (images[:, 1:5, 1:5] == 0).all(axis=(1, 2))
    sandals = labels["labels"].to_numpy() == "Sandal"
    assert marked[sandals].all() and marked[~sandals].sum() == round(0.15 * 900)
    right = np.array(model.class_names)[biased.predicted(model, images)] == labels["labels"].to_numpy()
    assert right[~marked].all()
    truth = demo.fixture_data()
    x, y, was_marked = biased.study_images()
    kept = was_marked | (biased.predicted(model, x) == y)
    assert len(labels) == kept.sum() > 500
    assert list(labels["labels"]) == [str(truth["class_names"][i]) for i in y[kept]]
    assert biased.ensure_biased_dataset(spec_path) == folder
