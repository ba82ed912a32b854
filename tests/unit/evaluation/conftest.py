"""Shared pieces for the evaluation tests: real photos, a seeded small CNN fed [0, 1] pixels."""
import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from explainers.nets import SmallCNN

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """Four real RGB photos, (H, W, 3) uint8."""
    return [getattr(data, name)() for name in PHOTOS]


def pixels(photos: list[np.ndarray], size: int) -> torch.Tensor:
    """The photos and their mirror images resized to size x size: (8, 3, size, size) float32 in [0, 1]."""
    arrays = [np.asarray(Image.fromarray(p).resize((size, size), Image.BILINEAR)) for p in photos]
    batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    return torch.cat([batch, batch.flip(-1)])


@pytest.fixture
def small_cnn() -> SmallCNN:
    """A seeded SmallCNN, 10 classes, eval mode; its inputs are [0, 1] pixels."""
    torch.manual_seed(0)
    return SmallCNN(num_classes=10, width=8).eval()


@pytest.fixture(scope="session")
def lite0():
    from explainers import load_model

    return load_model("efficientnet-lite0")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One CPU thread for these small-tensor tests (quicker on a busy machine, reproducible)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
