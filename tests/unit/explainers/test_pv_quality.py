"""The PV decoder's quality gate: its SSIM and PSNR against scikit-image's, the margins over the mean
image, the gate's message, and the layer a decoder inverts (the explanation's target layer by default)."""

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from explainers import load_model
from explainers.pv import (
    MIN_PSNR_MARGIN_DB,
    MIN_SSIM_MARGIN,
    Decoder,
    DecoderConfig,
    DecoderQuality,
    DecoderQualityError,
    PVError,
    check_quality,
    decoder_quality,
    encoder_of,
    load_decoder,
    load_images,
    pv_images,
    train_decoder,
)

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat")


def small_model():
    torch.manual_seed(0)
    return load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 32})


def skimage_scores(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """SSIM (the PV paper's Gaussian window) and PSNR of (H, W, 3) float64 images in [0, 1]."""
    s = structural_similarity(
        y, x, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=2
    )
    return s, peak_signal_noise_ratio(x, y, data_range=1)


def test_gate_metrics_match_skimage_for_the_decoder_and_the_mean_image():
    model = small_model()
    decoder = Decoder(DecoderConfig((128, 8, 8), (32, 32))).eval()
    images = load_images([getattr(data, name)() for name in PHOTOS], 32)

    quality = decoder_quality(decoder, model, images, batch_size=2)

    x = images.permute(0, 2, 3, 1).double().numpy() / 255
    with torch.no_grad():
        y = decoder(encoder_of(model)(images.float() / 255)).permute(0, 2, 3, 1).double().numpy()
    mean = x.mean(axis=0)
    ours = np.array([skimage_scores(yi, xi) for yi, xi in zip(y, x)]).mean(axis=0)
    baseline = np.array([skimage_scores(mean, xi) for xi in x]).mean(axis=0)
    np.testing.assert_allclose([quality.ssim, quality.psnr], ours, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        [quality.mean_image_ssim, quality.mean_image_psnr], baseline, rtol=1e-4, atol=1e-4
    )
    assert quality.n_images == len(PHOTOS)
    assert quality.ssim_margin == pytest.approx(ours[0] - baseline[0], abs=1e-4)
    assert quality.psnr_margin == pytest.approx(ours[1] - baseline[1], abs=1e-3)
    assert DecoderQuality.from_dict(quality.as_dict()) == quality


def test_the_gate_passes_a_decoder_beating_the_mean_image_and_says_what_to_provide_otherwise():
    good = DecoderQuality(ssim=0.70, psnr=22.0, mean_image_ssim=0.30, mean_image_psnr=15.0, n_images=200)
    check_quality(good)  # passes: margins 0.4 and 7 dB
    # The trial's decoder: 31 uploaded images, SSIM 0.331 against 0.296, a grey blob for every image.
    blob = DecoderQuality(ssim=0.331, psnr=15.4, mean_image_ssim=0.296, mean_image_psnr=15.0, n_images=4)
    with pytest.raises(DecoderQualityError) as error:
        check_quality(blob)
    message = str(error.value)
    assert "0.331" in message and "0.296" in message and str(MIN_SSIM_MARGIN) in message
    assert "more images" in message and "upload a decoder trained elsewhere" in message
    # SSIM alone is not enough: PSNR must gain its margin too, and each margin can be set.
    no_psnr_gain = DecoderQuality(0.70, 15.0 + MIN_PSNR_MARGIN_DB / 2, 0.30, 15.0, 200)
    with pytest.raises(DecoderQualityError):
        check_quality(no_psnr_gain)
    check_quality(no_psnr_gain, min_psnr_margin=0.0)


@pytest.mark.slow
def test_a_decoder_inverts_the_explanations_target_layer_unless_another_is_chosen(tmp_path):
    model = small_model()
    images = [getattr(data, name)() for name in PHOTOS] * 2
    options = {"epochs": 1, "batch_size": 5, "seed": 0, "device": "cpu", "progress": False}

    default = train_decoder(model, images, tmp_path / "default.pt", **options)
    assert default.layer == model.target_layer == "features.block3"  # SmallCNN's last convolutional block
    loaded = load_decoder(default.path, model)
    assert loaded.layer == model.target_layer and loaded.config.latent_shape == (128, 8, 8)
    assert default.quality.n_images == default.n_val and default.quality.ssim == default.final.val_ssim

    chosen = train_decoder(model, images, tmp_path / "block2.pt", layer="features.block2", **options)
    decoder = load_decoder(chosen.path, model)
    assert chosen.layer == decoder.layer == "features.block2" and decoder.config.latent_shape == (64, 16, 16)
    batch = model.preprocess(images[:2])
    pv = pv_images(model, batch, [0, 1], decoder)  # encodes through block2 for this decoder
    assert pv.shape == (2, 3, 32, 32)
    with pytest.raises(PVError, match="inverts layer 'features.block2', not 'features.block3'"):
        train_decoder(model, images, chosen.path, layer="features.block3", resume=True, **options)
