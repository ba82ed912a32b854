"""The PV training loss (paper eqs. 6-9) and a per-channel Gaussian SSIM in torch."""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .errors import PVError

DEFAULT_WEIGHTS = (0.2, 0.4, 0.4)  # MSE, SSIM, DSIM: the paper's best


def _valid_blur_matrix(n: int, sigma: float, truncate: float, device) -> torch.Tensor:
    """(n - 2r, n) float32: each row a normalised Gaussian (radius r = int(truncate * sigma + 0.5))
    placed so that `matrix @ signal` is the 'valid' Gaussian filter. A matmul is several times faster
    on the CPU than a depthwise convolution."""
    radius = int(truncate * sigma + 0.5)
    if n <= 2 * radius:
        raise PVError(f"images must be at least {2 * radius + 1} pixels on each side for SSIM, got {n}")
    offsets = torch.arange(n, device=device) - torch.arange(radius, n - radius, device=device)[:, None]
    weights = torch.exp(-0.5 * (offsets.float() / sigma) ** 2) * (offsets.abs() <= radius)
    return weights / weights.sum(dim=1, keepdim=True)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """Mean SSIM per image of x, y (B, C, H, W): (B,) float32, the mean over channels and pixels.

    Same definition as skimage's structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, channel_axis=...): an 11-tap Gaussian window, K1 = 0.01, K2 = 0.03,
    averaged over the pixels at least 5 from the border. Computed in float32 even under autocast.
    """
    if x.shape != y.shape or x.dim() != 4:
        raise PVError(
            f"ssim needs two (B, C, H, W) tensors of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    with torch.autocast(x.device.type, enabled=False):
        x, y = x.float(), y.float()
        rows = _valid_blur_matrix(x.shape[-2], sigma, 3.5, x.device)
        cols = _valid_blur_matrix(x.shape[-1], sigma, 3.5, x.device).T

        def blur(t):  # separable Gaussian, 'valid' so only interior pixels remain (skimage crops the rest)
            return rows @ t @ cols

        mu_x, mu_y = blur(x), blur(y)
        var_x = blur(x * x) - mu_x**2
        var_y = blur(y * y) - mu_y**2
        cov = blur(x * y) - mu_x * mu_y
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        return s.mean(dim=(1, 2, 3))


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image of x, y (B, C, H, W) in [0, 1]: (B,) float32."""
    mse = (x.float() - y.float()).pow(2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(1 / mse.clamp_min(1e-12))


def normalise_weights(weights: tuple[float, float, float]) -> tuple[float, float, float]:
    """(a1, a2, a3) non-negative, scaled to sum to 1."""
    if len(weights) != 3 or any(not a >= 0 for a in weights) or sum(weights) <= 0:
        raise PVError(f"loss weights must be three non-negative numbers, not all zero; got {weights}")
    total = sum(weights)
    return tuple(float(a) / total for a in weights)


@dataclass(frozen=True)
class LossTerms:
    """The loss and its three (unweighted) terms, each a scalar tensor."""

    total: torch.Tensor
    mse: torch.Tensor
    ssim: torch.Tensor  # L_SSIM = -SSIM, in [-1, 1]
    dsim: torch.Tensor


class PVLoss(nn.Module):
    """L = a1 * MSE(y, x) + a2 * (-SSIM(y, x)) + a3 * mean((E(y) - z)^2), E the frozen encoder.

    y, x: (B, 3, H, W) reconstruction and target in [0, 1]; z: (B, C, h, w) = E(x). The DSIM term is
    the mean over latent elements; its gradient flows through E to y, never into E's weights
    (freeze E with `encoder.frozen()`).
    """

    def __init__(self, encoder: nn.Module, weights: tuple[float, float, float] = DEFAULT_WEIGHTS):
        super().__init__()
        self.encoder = encoder
        self.weights = normalise_weights(weights)

    def forward(self, y: torch.Tensor, x: torch.Tensor, z: torch.Tensor) -> LossTerms:
        a1, a2, a3 = self.weights
        mse = F.mse_loss(y.float(), x.float())
        l_ssim = -ssim(y, x).mean()
        dsim = (
            F.mse_loss(self.encoder(y).float(), z.float()) if a3 > 0 else y.new_zeros((), dtype=torch.float32)
        )
        return LossTerms(a1 * mse + a2 * l_ssim + a3 * dsim, mse, l_ssim, dsim)
