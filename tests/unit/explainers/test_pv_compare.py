"""compare_decoders against scikit-image's SSIM and scipy's Pearson r, computed independently."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr
from skimage import data
from skimage.metrics import structural_similarity

from explainers import load_model
from explainers.pv import (
    Decoder,
    DecoderConfig,
    compare_decoders,
    decoder_quality,
    encoder_of,
    load_images,
    pearson,
)


def test_per_image_ssim_and_pearson_match_skimage_and_scipy():
    torch.manual_seed(0)
    model = load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32})
    decoders = [Decoder(DecoderConfig((128, 8, 8), (32, 32))).eval() for _ in range(2)]
    images = load_images([data.astronaut(), data.coffee(), data.chelsea()], 32)

    result = compare_decoders(*decoders, model, images, batch_size=2)

    with torch.no_grad():
        z = encoder_of(model)(images.float() / 255)
        y_a, y_b = (d(z).permute(0, 2, 3, 1).double().numpy() for d in decoders)
    expected_ssim = [
        structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=2
        )
        for a, b in zip(y_a, y_b)
    ]
    expected_r = [pearsonr(a.ravel(), b.ravel()).statistic for a, b in zip(y_a, y_b)]
    np.testing.assert_allclose(result.ssim, expected_ssim, atol=1e-5)
    np.testing.assert_allclose(result.pearson, expected_r, atol=1e-5)
    assert result.ssim_mean == pytest.approx(np.mean(expected_ssim), abs=1e-5)
    assert result.ssim_sd == pytest.approx(np.std(expected_ssim, ddof=1), abs=1e-5)
    assert result.pearson_sd == pytest.approx(np.std(expected_r, ddof=1), abs=1e-5)


def test_a_decoder_compared_with_itself_is_identical():
    torch.manual_seed(0)
    model = load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32})
    decoder = Decoder(DecoderConfig((128, 8, 8), (32, 32)))
    result = compare_decoders(decoder, decoder, model, load_images([data.rocket(), data.cat()], 32))
    np.testing.assert_allclose(result.ssim, 1.0, atol=1e-6)
    np.testing.assert_allclose(result.pearson, 1.0, atol=1e-6)


def test_pearson_by_hand():
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert pearson(x, 2 * x + 1).item() == pytest.approx(1.0)
    assert pearson(x, -x).item() == pytest.approx(-1.0)


def test_each_decoders_margin_over_the_mean_image_is_reported_beside_their_agreement():
    torch.manual_seed(0)
    model = load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32})
    a, b = (Decoder(DecoderConfig((128, 8, 8), (32, 32))).eval() for _ in range(2))
    images = load_images([data.astronaut(), data.coffee(), data.chelsea(), data.rocket()], 32)
    result = compare_decoders(a, b, model, images, batch_size=3)
    for quality, decoder in ((result.quality_a, a), (result.quality_b, b)):  # the images' mean as baseline
        assert quality.as_dict() == pytest.approx(decoder_quality(decoder, model, images).as_dict(), abs=1e-5)
    assert result.quality_a.n_images == 4 and result.quality_a.ssim != result.quality_b.ssim
    mean = images.float().mean(dim=0).div(255)
    by_hand = [10 * np.log10(1 / ((mean - x.float() / 255) ** 2).mean().item()) for x in images]
    assert result.quality_a.mean_image_psnr == pytest.approx(float(np.mean(by_hand)), abs=1e-3)
