"""Invariance check (paper section 4): how alike are two decoders' reconstructions of the same images?"""

import statistics
from dataclasses import dataclass

import torch

from explainers.models import LoadedModel

from .decoder import Decoder
from .loss import ssim
from .train import encoder_of


@dataclass(frozen=True)
class DecoderComparison:
    """Per image: SSIM and Pearson r between the two reconstructions; means and sample SDs over images."""

    ssim: tuple[float, ...]
    pearson: tuple[float, ...]

    @property
    def ssim_mean(self) -> float:
        return statistics.fmean(self.ssim)

    @property
    def ssim_sd(self) -> float:
        return statistics.stdev(self.ssim) if len(self.ssim) > 1 else 0.0

    @property
    def pearson_mean(self) -> float:
        return statistics.fmean(self.pearson)

    @property
    def pearson_sd(self) -> float:
        return statistics.stdev(self.pearson) if len(self.pearson) > 1 else 0.0


def pearson(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per image of x, y (B, ...) over all their values: (B,) float32 (NaN if constant)."""
    x = x.flatten(1).double()
    y = y.flatten(1).double()
    x = x - x.mean(dim=1, keepdim=True)
    y = y - y.mean(dim=1, keepdim=True)
    return ((x * y).sum(dim=1) / (x.norm(dim=1) * y.norm(dim=1))).float()


@torch.no_grad()
def compare_decoders(
    a: Decoder, b: Decoder, model: LoadedModel, images: torch.Tensor, batch_size: int = 32
) -> DecoderComparison:
    """Reconstruct (N, 3, S, S) uint8 images (see `load_images`) with both decoders and compare them."""
    encoder = encoder_of(model)
    a, b = a.to(model.device).eval(), b.to(model.device).eval()
    ssims, correlations = [], []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(model.device).float().div_(255)
        z = encoder(x)
        y_a, y_b = a(z), b(z)
        ssims += ssim(y_a, y_b).tolist()
        correlations += pearson(y_a, y_b).tolist()
    return DecoderComparison(tuple(ssims), tuple(correlations))
