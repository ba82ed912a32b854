"""The PV decoder: up-samples an encoder's latent z (C, h, w) back to a colour or grey image (3, H, W)."""

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .errors import PVError


@dataclass(frozen=True)
class DecoderConfig:
    """Everything needed to rebuild a decoder: latent shape (C, h, w), output size (H, W), widths, and
    whether it draws grey images (one output channel, copied to R, G and B) or colour ones."""

    latent_shape: tuple[int, int, int]
    out_size: tuple[int, int]
    max_width: int = 512
    min_width: int = 32
    grayscale: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def _leaky(conv: nn.Module) -> nn.Sequential:
    return nn.Sequential(conv, nn.LeakyReLU(0.2, inplace=True))


class Decoder(nn.Module):
    """Paper's decoder: 3x3 convs (leaky ReLU 0.2) and stride-2 transposed convs (linear, then BatchNorm).

    (B, C, h, w) latent -> (B, 3, H, W) image in [0, 1] (sigmoid); a grey decoder computes one channel
    and repeats it, so its R, G and B are equal exactly. One up-sampling block per doubling;
    when H/h or W/w is not a power of two, the last feature map is resized bilinearly to (H, W) before
    the output convolution. Channels start at min(C, max_width) and halve per block, not below min_width.
    No skip connections: the decoder sees only z.
    """

    def __init__(self, config: DecoderConfig):
        super().__init__()
        c, h, w = config.latent_shape
        height, width = config.out_size
        if min(c, h, w, height, width) < 1 or height < h or width < w:
            raise PVError(f"cannot decode a {config.latent_shape} latent to a {config.out_size} image")
        self.config = config
        self.weights_hash: str | None = None  # of the model it was trained for; set by training and loading
        self.layer: str | None = None  # the model layer whose activations it inverts; set likewise
        n_up = max(math.ceil(math.log2(height / h)), math.ceil(math.log2(width / w)))
        channels = min(c, config.max_width)
        layers = [_leaky(nn.Conv2d(c, channels, 3, padding=1))]
        for _ in range(n_up):
            out = max(channels // 2, config.min_width)
            layers += [
                nn.ConvTranspose2d(channels, out, 4, stride=2, padding=1),
                nn.BatchNorm2d(out),
                _leaky(nn.Conv2d(out, out, 3, padding=1)),
            ]
            channels = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(channels, 1 if config.grayscale else 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = self.body(z)
        if features.shape[-2:] != self.config.out_size:
            features = F.interpolate(
                features, size=self.config.out_size, mode="bilinear", align_corners=False
            )
        return torch.sigmoid(self.head(features)).expand(-1, 3, -1, -1)
