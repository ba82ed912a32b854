"""Rendering: jet against matplotlib's, the PV white mask by its formula, PNG round trip."""
import io

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from explainers.render import jet, jet_overlay, to_png, white_mask


def test_jet_matches_matplotlib():
    levels = torch.linspace(0, 1, 256)
    ours = jet(levels.view(1, 1, 256))[0, :, 0].T.numpy()
    theirs = matplotlib.colormaps["jet"](levels.numpy())[:, :3]
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_overlay_and_white_mask_formulas():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, 4, 5, generator=generator)
    maps = torch.rand(2, 4, 5, generator=generator)
    torch.testing.assert_close(white_mask(images, maps), maps[:, None] * images + (1 - maps[:, None]) * 1.0)
    torch.testing.assert_close(white_mask(images, torch.ones(2, 4, 5)), images)
    torch.testing.assert_close(white_mask(images, torch.zeros(2, 4, 5)), torch.ones(2, 3, 4, 5))
    torch.testing.assert_close(jet_overlay(images, maps, alpha=0.3), 0.7 * images + 0.3 * jet(maps))
    with pytest.raises(ValueError, match="need \\(B, 3, H, W\\) images and \\(B, H, W\\) maps"):
        white_mask(images, maps[:, :3])


def test_png_round_trip():
    image = torch.rand(3, 6, 7, generator=torch.Generator().manual_seed(1))
    decoded = np.asarray(Image.open(io.BytesIO(to_png(image)))).astype(np.float32) / 255
    np.testing.assert_allclose(decoded.transpose(2, 0, 1), image.numpy(), atol=0.5 / 255 + 1e-6)
    grey = np.asarray(Image.open(io.BytesIO(to_png(torch.full((4, 4), 0.5)))))
    assert grey.shape == (4, 4) and (grey == 128).all()
