"""Invariance check (paper section 4): how alike are two decoders' reconstructions of the same images, and
how far does each beat the mean image?"""

import statistics
from dataclasses import dataclass

import torch

from explainers.models import LoadedModel

from .decoder import Decoder
from .loss import psnr, ssim
from .quality import DecoderQuality, mean_image_scores
from .train import encoder_of


@dataclass(frozen=True)
class DecoderComparison:
    """Per image: SSIM and Pearson r between the two reconstructions; means and sample SDs over images.
    `quality_a` and `quality_b`: each decoder against the images, beside the images' mean image. Two
    decoders that both draw the mean image agree perfectly; only their margins tell."""

    ssim: tuple[float, ...]
    pearson: tuple[float, ...]
    quality_a: DecoderQuality
    quality_b: DecoderQuality

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
def reconstruct(
    decoder: Decoder, model: LoadedModel, images: torch.Tensor, batch_size: int = 32
) -> torch.Tensor:
    """(N, 3, S, S) uint8 images -> the decoder's (N, 3, S, S) float32 reconstructions in [0, 1], on the
    model's device, through the layer the decoder inverts."""
    encoder = encoder_of(model, decoder.layer)
    decoder = decoder.to(model.device).eval()
    return torch.cat([
        decoder(encoder(images[start : start + batch_size].to(model.device).float().div_(255))).float()
        for start in range(0, len(images), batch_size)
    ])


@torch.no_grad()
def decoder_quality(
    decoder: Decoder, model: LoadedModel, images: torch.Tensor, mean: torch.Tensor | None = None,
    batch_size: int = 32,
) -> DecoderQuality:
    """SSIM and PSNR of the decoder's reconstructions of (N, 3, S, S) uint8 images, beside those of the
    mean image `mean` (1, 3, S, S) in [0, 1] (default: the mean of `images`, which favours the baseline)."""
    if mean is None:
        mean = images.float().mean(dim=0, keepdim=True).div(255)
    mean = mean.to(model.device)
    ssim_sum = psnr_sum = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(model.device).float().div_(255)
        y = reconstruct(decoder, model, images[start : start + batch_size], batch_size)
        ssim_sum += ssim(y, x).sum().item()
        psnr_sum += psnr(y, x).sum().item()
    baseline = mean_image_scores(mean, images, batch_size)
    return DecoderQuality(ssim_sum / len(images), psnr_sum / len(images), *baseline, len(images))


def compare_decoders(
    a: Decoder, b: Decoder, model: LoadedModel, images: torch.Tensor, batch_size: int = 32
) -> DecoderComparison:
    """Reconstruct (N, 3, S, S) uint8 images (see `load_images`) with both decoders and compare them, and
    each with the images' mean image."""
    ssims, correlations = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        y_a, y_b = reconstruct(a, model, chunk, batch_size), reconstruct(b, model, chunk, batch_size)
        ssims += ssim(y_a, y_b).tolist()
        correlations += pearson(y_a, y_b).tolist()
    return DecoderComparison(
        tuple(ssims), tuple(correlations), decoder_quality(a, model, images, batch_size=batch_size),
        decoder_quality(b, model, images, batch_size=batch_size),
    )
