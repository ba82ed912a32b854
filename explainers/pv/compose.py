"""Eq. 2 of the PV paper: white where the model does not look, the reconstruction where it does."""

import torch

from .errors import PVError


def compose_pv(saliency: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """p = (1 - m) + m * y for saliency m (B, H, W) and reconstruction y (B, 3, H, W), both in [0, 1].

    Returns (B, 3, H, W) in [0, 1], same dtype and device as the reconstruction.
    """
    if saliency.dim() != 3 or reconstruction.dim() != 4 or reconstruction.shape[1] != 3:
        raise PVError(
            f"expected saliency (B, H, W) and reconstruction (B, 3, H, W), "
            f"got {tuple(saliency.shape)} and {tuple(reconstruction.shape)}"
        )
    b, _, h, w = reconstruction.shape
    if saliency.shape != (b, h, w):
        raise PVError(
            f"saliency {tuple(saliency.shape)} does not match reconstruction {tuple(reconstruction.shape)}"
        )
    for name, tensor in (("saliency", saliency), ("reconstruction", reconstruction)):
        if tensor.numel() and not (tensor.min() >= 0 and tensor.max() <= 1):  # also catches NaN
            raise PVError(f"{name} must lie in [0, 1], got [{tensor.min():.3g}, {tensor.max():.3g}]")
    m = saliency.to(reconstruction.dtype).unsqueeze(1)
    return (1 - m) + m * reconstruction
