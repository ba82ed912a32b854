"""SSIM against scikit-image on real photos; the loss terms and where their gradients go."""

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity
from skimage.transform import resize

from explainers.nets import SmallCNN
from explainers.pv import Decoder, DecoderConfig, Encoder, PVError, PVLoss, psnr, ssim
from explainers.pv.loss import normalise_weights


def photos(size: int) -> torch.Tensor:
    """Real photos from scikit-image, (4, 3, size, size) float32 in [0, 1]."""
    images = [
        resize(getattr(data, name)(), (size, size), anti_aliasing=True)
        for name in ("astronaut", "coffee", "chelsea", "rocket")
    ]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


def skimage_ssim(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return np.array(
        [
            structural_similarity(
                a.permute(1, 2, 0).double().numpy(),
                b.permute(1, 2, 0).double().numpy(),
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1,
                channel_axis=2,
            )
            for a, b in zip(x, y)
        ]
    )


def test_ssim_matches_skimage_on_real_photos():
    x = photos(96)
    generator = torch.Generator().manual_seed(0)
    noisy = (x + 0.1 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
    shuffled = x[[1, 2, 3, 0]]
    for y in (noisy, shuffled, torch.ones_like(x) * 0.5):
        ours = ssim(y, x).numpy()
        np.testing.assert_allclose(ours, skimage_ssim(y, x), rtol=0, atol=1e-5)
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-6)


def test_ssim_of_non_square_images_and_too_small_images():
    x = photos(64)[:, :, :, :40]
    y = x.flip(-1)
    np.testing.assert_allclose(ssim(y, x).numpy(), skimage_ssim(y, x), atol=1e-5)
    with pytest.raises(PVError, match="at least 11 pixels"):
        ssim(x[:, :, :10], y[:, :, :10])


def test_psnr_by_hand():
    x = torch.zeros(1, 3, 4, 4)
    y = torch.full_like(x, 0.1)  # MSE 0.01 -> 20 dB
    assert psnr(y, x).item() == pytest.approx(20.0, abs=1e-4)


def test_weights_are_normalised_and_checked():
    assert normalise_weights((1, 2, 2)) == pytest.approx((0.2, 0.4, 0.4))
    for bad in [(0, 0, 0), (-1, 1, 1), (1, 1), (float("nan"), 1, 1)]:
        with pytest.raises(PVError):
            normalise_weights(bad)


def make_pair():
    torch.manual_seed(0)
    model = SmallCNN(width=8)
    encoder = Encoder(model, "features.block3", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    decoder = Decoder(DecoderConfig((32, 8, 8), (32, 32)))
    return model, encoder, decoder


def test_loss_is_the_weighted_sum_of_its_terms():
    _model, encoder, decoder = make_pair()
    x = photos(32)
    loss = PVLoss(encoder, (2, 3, 5))
    with encoder.frozen(), torch.no_grad():
        z = encoder(x)
        y = decoder(z)
        terms = loss(y, x, z)
        assert terms.mse.item() == pytest.approx(((y - x) ** 2).mean().item(), rel=1e-5)
        assert terms.ssim.item() == pytest.approx(-skimage_ssim(y, x).mean(), abs=1e-5)
        assert terms.dsim.item() == pytest.approx(((encoder(y) - z) ** 2).mean().item(), rel=1e-5)
        assert terms.total.item() == pytest.approx(
            (0.2 * terms.mse + 0.3 * terms.ssim + 0.5 * terms.dsim).item(), rel=1e-5
        )


def test_dsim_gradient_reaches_the_decoder_but_not_the_encoder():
    model, encoder, decoder = make_pair()
    x = photos(32)
    loss = PVLoss(encoder, (0, 0, 1))  # the DSIM term alone
    with encoder.frozen():
        z = encoder(x)
        assert not z.requires_grad
        terms = loss(decoder(z), x, z)
        terms.total.backward()
    assert terms.dsim.item() > 0
    assert all(p.grad is None for p in model.parameters())
    grads = [p.grad for p in decoder.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert all(p.requires_grad for p in model.parameters())  # frozen() gave the flags back
