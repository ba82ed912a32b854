"""Train a small classifier on in-memory images: seeded, on the CPU, with a progress bar.

This is how the demo's SmallCNN learns Fashion-MNIST. Images are (N, H, W) grayscale or
(N, H, W, 3) RGB uint8 arrays; the network sees them as (N, 3, size, size) float32, resized
bilinearly and normalised with `mean` and `std`, the same way `explainers.models` preprocesses.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm


class TrainingError(ValueError):
    """Training data that cannot be used (shapes, labels)."""


@dataclass(frozen=True)
class TrainingResult:
    test_accuracy: float  # fraction of test images whose top-1 class is right, in [0, 1]
    final_loss: float  # mean cross-entropy of the last epoch
    epochs: int
    n_train: int
    n_test: int


def to_tensor(
    images: np.ndarray, size: int, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
    """(N, H, W) or (N, H, W, 3) uint8 -> (N, 3, size, size) float32, normalised."""
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise TrainingError(
            f"images must be (N, H, W) or (N, H, W, 3) uint8, got {images.shape} {images.dtype}"
        )
    x = torch.from_numpy(images).float().div_(255)
    x = x.unsqueeze(1).expand(-1, 3, -1, -1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy in [0, 1] of `model` on (N, 3, S, S) inputs and (N,) int64 labels."""
    model.eval()
    hits = sum(
        (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
        for i in range(0, len(x), batch_size)
    )
    return hits / len(x)


def train_classifier(
    model: nn.Module,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    size: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    epochs: int = 6,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = True,
) -> TrainingResult:
    """Train `model` in place with Adam and a one-cycle schedule; return its test accuracy.

    `train` and `test` are (images uint8, labels int) pairs; labels are class indices in
    [0, num_classes). The same seed gives the same weights on the same machine.
    """
    (x_train, y_train), (x_test, y_test) = train, test
    if len(x_train) != len(y_train) or len(x_test) != len(y_test) or len(x_train) == 0 or len(x_test) == 0:
        raise TrainingError("need as many labels as images, and at least one training and one test image")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    xt, yt = to_tensor(x_train, size, mean, std), torch.as_tensor(y_train, dtype=torch.int64)
    xv, yv = to_tensor(x_test, size, mean, std), torch.as_tensor(y_test, dtype=torch.int64)
    n_batches = -(-len(xt) // batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * n_batches)
    loss = torch.zeros(())
    bar = tqdm(total=epochs * n_batches, desc="training classifier", unit="batch", disable=not progress)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for i in range(0, len(xt), batch_size):
            batch = order[i : i + batch_size]
            loss = F.cross_entropy(model(xt[batch]), yt[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(batch)
            bar.update()
        bar.set_postfix(epoch=epoch + 1, loss=f"{total / len(xt):.3f}")
    bar.close()
    model.eval()
    return TrainingResult(
        test_accuracy=accuracy(model, xv, yv),
        final_loss=total / len(xt),
        epochs=epochs,
        n_train=len(xt),
        n_test=len(xv),
    )
