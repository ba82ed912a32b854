"""Density maps of a gaze source: decoded from their files into GFDMs, and previewed as PNG."""

from __future__ import annotations

import io
import math
from pathlib import PurePosixPath

import numpy as np
from matplotlib import colormaps
from PIL import Image

PREVIEW_MAX_SIDE = 512
GRAYSCALE_MODES = {"L", "I;16", "I;16B", "I;16L", "I", "F"}


class MapError(ValueError):
    """A map file that cannot be used; the message says why."""


def read_density(path: str, data: bytes, shape: tuple[int, int], resample: bool) -> np.ndarray:
    """Decode a map file into `(H, W)` float32 summing to 1; raises `MapError`."""
    suffix = PurePosixPath(path).suffix.lower()
    try:
        if suffix in (".npy", ".npz"):
            loaded = np.load(io.BytesIO(data), allow_pickle=False)
            if suffix == ".npz":
                if len(loaded.files) != 1:
                    raise MapError(f"an .npz map must hold exactly one array, found {len(loaded.files)}")
                loaded = loaded[loaded.files[0]]
            if loaded.ndim != 2 or not np.issubdtype(loaded.dtype, np.number):
                raise MapError(f"expected a 2-D numeric array, got shape {loaded.shape} of {loaded.dtype}")
            values = loaded.astype(np.float32)
        else:
            with Image.open(io.BytesIO(data)) as image:
                if image.mode not in GRAYSCALE_MODES:
                    raise MapError(f"expected an 8- or 16-bit grayscale image, got mode {image.mode}")
                values = np.asarray(image, dtype=np.float32)
    except MapError:
        raise
    except Exception as error:  # numpy and PIL raise many types for broken files
        raise MapError(f"unreadable map ({error})") from error
    if not np.isfinite(values).all():
        raise MapError("map contains NaN or infinite values")
    if values.min() < 0:
        raise MapError("map contains negative values")
    if values.shape != shape:
        if not resample:
            raise MapError(
                f"map is {values.shape[1]}x{values.shape[0]} but its stimulus is "
                f"{shape[1]}x{shape[0]} (ask to resample to accept it)"
            )
        values = np.asarray(Image.fromarray(values, mode="F").resize(shape[::-1], Image.BILINEAR))
    total = float(values.sum(dtype=np.float64))
    if total <= 0:
        raise MapError("map is all zero")
    return (values / total).astype(np.float32)


def preview_png(values: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """PNG of a map `(H, W)` >= 0 scaled to its maximum and coloured with inferno, resized
    (bilinear) to `size` = (width, height), or reduced so that its longest side is at most 512 px."""
    image = Image.fromarray(np.asarray(values, dtype=np.float32), mode="F")
    if size is None:
        image = image.reduce(math.ceil(max(image.size) / PREVIEW_MAX_SIDE))  # box filter, integer factor
    elif size != image.size:
        image = image.resize(size, Image.BILINEAR)
    resized = np.asarray(image)
    index = np.clip(resized * (255.0 / max(float(resized.max()), 1e-30)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(_INFERNO[index]).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


_INFERNO = (colormaps["inferno"](np.arange(256))[:, :3] * 255).round().astype(np.uint8)
