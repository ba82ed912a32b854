"""Shared pieces for the explainer tests: real photos from scikit-image and small seeded models."""
import numpy as np
import pytest
import torch
from skimage import data

from explainers.nets import SmallCNN

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """Four real RGB photos, (H, W, 3) uint8."""
    return [getattr(data, name)() for name in PHOTOS]


@pytest.fixture(scope="session")
def lite0():
    from explainers import load_model

    return load_model("efficientnet-lite0")


@pytest.fixture
def small_cnn() -> SmallCNN:
    """A seeded SmallCNN (in-place ReLUs), 10 classes, eval mode."""
    torch.manual_seed(0)
    return SmallCNN(num_classes=10, width=8).eval()


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Run these small-tensor tests, module fixtures included, on one CPU thread (far quicker on a
    busy machine, and one reduction order, so reruns agree to the bit); restore after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
