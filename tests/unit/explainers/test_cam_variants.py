"""CAM, Guided Grad-CAM, Recipro-CAM and Smooth Grad-CAM++: the linear-layer formula, captum's
GuidedGradCam, and the papers' equations worked by hand on small tensors."""
import copy

import numpy as np
import pytest
import torch
import torchvision
from captum.attr import GuidedGradCam
from PIL import Image

from explainers import ExplainError, explain
from explainers.attribution import pixel_map
from explainers.cam import CAM, ReciproCAM, smooth_gradcampp_weights, upsample
from explainers.noise import noisy_copies
from explainers.targets import normalise

TARGETS = [1, 4, 7]


def batch(photos, size: int) -> torch.Tensor:
    arrays = [np.asarray(Image.fromarray(p).convert("RGB").resize((size, size))) for p in photos[:3]]
    return (torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25


def test_cam_is_the_linear_layer_over_global_average_pooling(lite0, photos):
    images = lite0.preprocess(photos[1:3])
    targets = [281, 504]
    cam = CAM(lite0.module, lite0.target_layer)
    activation = cam.activations_and_gradients(images, torch.tensor(targets))[0]
    raw = cam.cam(activation, None, images, torch.tensor(targets))
    with torch.no_grad():
        logits = lite0.module(images)[[0, 1], targets]
    fc = lite0.module._fc
    torch.testing.assert_close(raw.mean(dim=(1, 2)) + fc.bias[targets].detach(), logits, rtol=1e-4, atol=1e-4)
    by_hand = torch.einsum("bk,bkhw->bhw", fc.weight[targets].detach(), activation)
    expected = normalise(upsample(torch.relu(by_hand), (224, 224)))
    torch.testing.assert_close(explain(lite0, images, targets, "cam"), expected)


def test_cam_refuses_a_network_without_global_average_pooling(photos):
    torch.manual_seed(0)
    vgg = torchvision.models.vgg11(weights=None, num_classes=10).eval()
    with pytest.raises(ExplainError, match="global average pooling"):
        explain(vgg, batch(photos, 32), TARGETS, "cam", target_layer="features.19")


def test_guided_gradcam_matches_captum(small_cnn, photos):
    images = batch(photos, 32)
    peer = copy.deepcopy(small_cnn)
    for module in peer.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    theirs = GuidedGradCam(peer, peer.features.block3).attribute(images, target=TARGETS,
                                                                 interpolate_mode="bilinear")
    ours = explain(small_cnn, images, TARGETS, "guided_gradcam", target_layer="features.block3")
    torch.testing.assert_close(ours, pixel_map(theirs.detach()), rtol=1e-4, atol=1e-5)


def test_reciprocam_by_its_equation(small_cnn, photos):
    """SmallCNN's tail after block3 is global average pooling and a linear layer, so the score of the
    feature map kept only at (i, j) is softmax(W A[:, i, j] / (h w) + b)[target]."""
    images = batch(photos, 16)
    cam = ReciproCAM(small_cnn, "features.block3", batch_size=5)
    activation = cam.activations_and_gradients(images, torch.tensor(TARGETS))[0]
    ours = cam.cam(activation, None, images, torch.tensor(TARGETS))
    linear = small_cnn.classifier[-1]
    _, _, height, width = activation.shape
    expected = torch.empty(3, height, width)
    for b in range(3):
        for i in range(height):
            for j in range(width):
                logits = linear.weight @ activation[b, :, i, j] / (height * width) + linear.bias
                expected[b, i, j] = logits.softmax(dim=0)[TARGETS[b]]
    torch.testing.assert_close(ours, expected.detach())
    maps = explain(small_cnn, images, TARGETS, "reciprocam", target_layer="features.block3")
    assert maps.shape == (3, 16, 16)


def test_smooth_gradcampp_weights_on_a_small_tensor():
    activation = torch.tensor([[[[1.0, 2.0], [0.0, 3.0]]]])  # (1, 1, 2, 2), sum 6
    d1 = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]]])
    d2 = torch.tensor([[[[0.5, 1.0], [4.0, 0.0]]]])
    d3 = torch.tensor([[[[0.25, -1.0], [8.0, 0.0]]]])
    # alpha = D2 / (2 D2 + 6 D3) = [0.5 / 2.5, 1 / -4, 4 / 56, 0 (D2 = 0)]; w = sum alpha relu(D1)
    expected = 0.5 / 2.5 * 0.5 + (4 / 56) * 2.0
    weights = smooth_gradcampp_weights(activation, d1, d2, d3)
    torch.testing.assert_close(weights, torch.tensor([[[[expected]]]]), rtol=1e-5, atol=0)


def test_smooth_gradcampp_by_definition_and_its_noise_free_limit(small_cnn, photos):
    images = batch(photos, 16)
    ours = explain(small_cnn, images, TARGETS, "smooth_gradcam++", target_layer="features.block3", n=4,
                   sigma=0.2, seed=5)
    with torch.no_grad():
        activation = small_cnn.features(images)
    powers = [torch.zeros_like(activation) for _ in range(3)]
    for noisy in noisy_copies(images, 4, 0.2, 5):
        features = small_cnn.features(noisy)
        scores = small_cnn.classifier(features)[torch.arange(3), TARGETS]
        (gradient,) = torch.autograd.grad(scores.sum(), features)
        for order in range(3):
            powers[order] += gradient.pow(order + 1) / 4
    raw = (smooth_gradcampp_weights(activation, *powers) * activation).sum(dim=1)
    torch.testing.assert_close(ours, normalise(upsample(torch.relu(raw), (16, 16))))
    plain = explain(small_cnn, images, TARGETS, "gradcam++", target_layer="features.block3")
    limit = explain(small_cnn, images, TARGETS, "smooth_gradcam++", target_layer="features.block3", n=1,
                    sigma=0.0)
    torch.testing.assert_close(limit, plain)
