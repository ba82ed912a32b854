"""The decoder: paper's layer recipe, and it fits any encoder output to any input size."""

import pytest
import torch
from torch import nn

from explainers.pv import Decoder, DecoderConfig, PVError


@pytest.mark.parametrize(
    "latent, size, n_up",
    [
        ((2048, 7, 7), (224, 224), 5),  # ResNet-50 layer4, as in the paper
        ((1280, 7, 7), (224, 224), 5),  # EfficientNet-Lite0 head
        ((128, 16, 16), (64, 64), 2),  # SmallCNN features.block3
        ((64, 7, 5), (100, 150), 5),  # non-power-of-two ratios, non-square
        ((32, 8, 8), (8, 8), 0),  # no up-sampling at all
    ],
)
def test_output_shape_range_and_layer_recipe(latent, size, n_up):
    decoder = Decoder(DecoderConfig(latent, size)).eval()
    with torch.no_grad():
        y = decoder(torch.randn(2, *latent))
    assert y.shape == (2, 3, *size)
    assert y.min() >= 0 and y.max() <= 1

    layers = list(decoder.modules())
    transposed = [i for i, layer in enumerate(layers) if isinstance(layer, nn.ConvTranspose2d)]
    assert len(transposed) == n_up
    assert all(isinstance(layers[i + 1], nn.BatchNorm2d) for i in transposed)  # linear, then BatchNorm
    convs = [layer for layer in layers if type(layer) is nn.Conv2d]
    leaky = [layer for layer in layers if isinstance(layer, nn.LeakyReLU)]
    assert len(leaky) == len(convs) - 1  # every 3x3 conv but the output one
    assert all(layer.negative_slope == 0.2 for layer in leaky)
    assert all(layer.kernel_size == (3, 3) for layer in convs)
    assert not any(
        isinstance(layer, (nn.ReLU, nn.Sigmoid, nn.Tanh)) for layer in layers
    )  # sigmoid only at the end


def test_output_depends_only_on_the_latent():
    decoder = Decoder(DecoderConfig((16, 4, 4), (16, 16))).eval()
    z = torch.randn(3, 16, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(decoder(z)[1:2], decoder(z[1:2]))  # per image, in eval mode


@pytest.mark.parametrize("latent, size", [((16, 8, 8), (4, 4)), ((0, 4, 4), (16, 16))])
def test_impossible_shapes_are_refused(latent, size):
    with pytest.raises(PVError):
        Decoder(DecoderConfig(latent, size))


@pytest.mark.parametrize(
    "spec, latent",
    [
        # ResNet-50 is slow only because load_model builds and hashes 25 M random weights
        pytest.param({"arch": "resnet50"}, (2048, 7, 7), marks=pytest.mark.slow),
        ("efficientnet-lite0", (1280, 7, 7)),
    ],
)
def test_decoder_fits_real_encoders_at_224(spec, latent):
    from explainers import load_model
    from explainers.pv import encoder_of

    model = load_model(spec)
    with torch.no_grad():
        z = encoder_of(model)(torch.rand(1, 3, 224, 224))
        assert z.shape == (1, *latent)
        y = Decoder(DecoderConfig(tuple(z.shape[1:]), (224, 224))).eval()(z)
    assert y.shape == (1, 3, 224, 224)


def test_grey_decoder_draws_equal_channels_and_colour_stays_default():
    grey = Decoder(DecoderConfig((16, 4, 4), (16, 16), grayscale=True)).eval()
    colour = Decoder(DecoderConfig((16, 4, 4), (16, 16))).eval()
    z = torch.randn(2, 16, 4, 4)
    with torch.no_grad():
        y = grey(z)
        assert y.shape == (2, 3, 16, 16)
        assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])  # R == G == B exactly
        assert colour(z)[:, 0].sub(colour(z)[:, 1]).abs().max() > 0  # a colour decoder is free per channel
    assert grey.head.out_channels == 1 and colour.head.out_channels == 3
    assert DecoderConfig((16, 4, 4), (16, 16)).as_dict()["grayscale"] is False  # old checkpoints: colour
