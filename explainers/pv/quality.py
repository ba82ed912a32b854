"""The quality gate of a PV decoder: do its reconstructions beat the mean image on held-out images?

A decoder that only learned the data set's average draws the same grey blob for every input; its PV
images then show nothing of what the model saw. The baseline reconstructs every held-out image as the
mean of the training images; a useful decoder must beat it by MIN_SSIM_MARGIN in SSIM and by
MIN_PSNR_MARGIN_DB in PSNR.
"""

from dataclasses import asdict, dataclass

import torch

from .errors import PVError
from .loss import psnr, ssim

# Held-out SSIM (in [-1, 1]) a decoder must gain over the mean image. A decoder trained on 31 uploaded
# images reached 0.331 against 0.296 (a margin of 0.035) and drew a grey blob for every image.
MIN_SSIM_MARGIN = 0.1
MIN_PSNR_MARGIN_DB = 1.0  # held-out PSNR (dB) a decoder must gain over the mean image


class DecoderQualityError(PVError):
    """The decoder's reconstructions do not beat the mean image by the required margin."""


@dataclass(frozen=True)
class DecoderQuality:
    """Mean SSIM and PSNR (dB) over n held-out images, of the decoder's reconstructions and of the mean
    image (the baseline), each against the images themselves."""

    ssim: float
    psnr: float
    mean_image_ssim: float
    mean_image_psnr: float
    n_images: int

    @property
    def ssim_margin(self) -> float:
        return self.ssim - self.mean_image_ssim

    @property
    def psnr_margin(self) -> float:
        return self.psnr - self.mean_image_psnr

    def as_dict(self) -> dict:
        return asdict(self) | {"ssim_margin": self.ssim_margin, "psnr_margin": self.psnr_margin}

    @classmethod
    def from_dict(cls, data: dict) -> "DecoderQuality":
        """The quality `as_dict` wrote (its margins are recomputed)."""
        names = ("ssim", "psnr", "mean_image_ssim", "mean_image_psnr", "n_images")
        return cls(*(data[name] for name in names))

    def summary(self) -> str:
        return (
            f"held-out SSIM {self.ssim:.3f} (mean image {self.mean_image_ssim:.3f}, margin "
            f"{self.ssim_margin:+.3f}), PSNR {self.psnr:.2f} dB (mean image {self.mean_image_psnr:.2f} dB, "
            f"margin {self.psnr_margin:+.2f} dB) on {self.n_images} images"
        )


def mean_image_scores(mean: torch.Tensor, images: torch.Tensor, batch_size: int = 64) -> tuple[float, float]:
    """Mean SSIM and PSNR of `mean` (1, 3, H, W) float in [0, 1] against each of `images`
    (N, 3, H, W) uint8: the scores of a decoder that draws the mean image whatever it is given."""
    mean = mean.float()
    ssim_sum = psnr_sum = 0.0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(mean.device).float().div_(255)
        ssim_sum += ssim(mean.expand_as(x), x).sum().item()
        psnr_sum += psnr(mean.expand_as(x), x).sum().item()
    return ssim_sum / len(images), psnr_sum / len(images)


def check_quality(
    quality: DecoderQuality,
    min_ssim_margin: float = MIN_SSIM_MARGIN,
    min_psnr_margin: float = MIN_PSNR_MARGIN_DB,
) -> None:
    """Raise DecoderQualityError, saying what to provide, unless the decoder beats the mean image by both
    margins."""
    if quality.ssim_margin >= min_ssim_margin and quality.psnr_margin >= min_psnr_margin:
        return
    raise DecoderQualityError(
        f"the PV decoder does not show what the model saw: {quality.summary()}; it must beat the mean "
        f"image by {min_ssim_margin} in SSIM and {min_psnr_margin} dB in PSNR. Its PV images would be "
        f"close to the average image whatever the input. Provide more images to train it on (thousands, "
        f"from the model's training distribution), or upload a decoder trained elsewhere "
        f"(`manage.py train_pv_decoder`)."
    )
