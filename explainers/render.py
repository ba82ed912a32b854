"""Turn maps into the stimuli a study shows: the jet overlay and the PV paper's white mask."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

# matplotlib's "jet" (its _jet_data segments), as a 256-entry lookup table like matplotlib's.
_JET_KNOTS = {
    "red": ((0.0, 0.35, 0.66, 0.89, 1.0), (0.0, 0.0, 1.0, 1.0, 0.5)),
    "green": ((0.0, 0.125, 0.375, 0.64, 0.91, 1.0), (0.0, 0.0, 1.0, 1.0, 0.0, 0.0)),
    "blue": ((0.0, 0.11, 0.34, 0.65, 1.0), (0.5, 1.0, 1.0, 0.0, 0.0)),
}
_LEVELS = np.linspace(0.0, 1.0, 256)
JET = torch.tensor(np.stack([np.interp(_LEVELS, *_JET_KNOTS[c]) for c in ("red", "green", "blue")], axis=1),
                   dtype=torch.float32)  # (256, 3)


def jet(maps: torch.Tensor) -> torch.Tensor:
    """(B, H, W) in [0, 1] -> (B, 3, H, W) jet colours in [0, 1]."""
    index = (maps.clamp(0, 1) * 255).round().long()
    return JET.to(maps.device)[index].permute(0, 3, 1, 2)


def jet_overlay(images: torch.Tensor, maps: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """(B, 3, H, W) images and (B, H, W) maps, both in [0, 1] -> (B, 3, H, W) blend
    `(1 - alpha) * image + alpha * jet(map)` in [0, 1]."""
    _check(images, maps)
    return (1 - alpha) * images + alpha * jet(maps)


def white_mask(images: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """The PV paper's stimulus: `m * image + (1 - m) * white`, (B, 3, H, W) in [0, 1]."""
    _check(images, maps)
    m = maps[:, None]
    return m * images + (1 - m)


def resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, h, w) -> (B, H, W) bilinear, `size` = (H, W); stays in the input range."""
    return torch.nn.functional.interpolate(maps[:, None].float(), size=size, mode="bilinear",
                                           align_corners=False)[:, 0]


def to_png(image: torch.Tensor | np.ndarray) -> bytes:
    """One (3, H, W) RGB or (H, W) grey image in [0, 1] -> PNG bytes (8 bits per channel)."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3:
        array = array.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _check(images: torch.Tensor, maps: torch.Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 3 or maps.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(f"need (B, 3, H, W) images and (B, H, W) maps, got {tuple(images.shape)} "
                         f"and {tuple(maps.shape)}")
