"""Gaussian noise for the smoothing methods (SmoothGrad, SmoothGrad², VarGrad, Smooth Grad-CAM++)."""
from __future__ import annotations

from collections.abc import Iterator

import torch


def noisy_copies(images: torch.Tensor, n: int, sigma: float, seed: int | None) -> Iterator[torch.Tensor]:
    """`n` noisy versions of a (B, 3, H, W) batch: Gaussian noise of standard deviation
    sigma x (max - min) of each image, from a generator seeded with `seed` (None: a random seed)."""
    generator = torch.Generator(device=images.device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    flat = images.flatten(1)
    scale = (sigma * (flat.max(dim=1).values - flat.min(dim=1).values)).view(-1, 1, 1, 1)
    for _ in range(n):
        yield images + scale * torch.randn(images.shape, generator=generator, device=images.device,
                                           dtype=images.dtype)
