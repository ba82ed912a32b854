"""Deletion against Quantus' PixelFlipping, insertion by its definition on a hand-made model,
Average Drop / Increase in Confidence against pytorch-grad-cam, ADCC by its formula."""
import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.cam_mult_image import DropInConfidence, IncreaseInConfidence
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from quantus import PixelFlipping
from scipy.stats import hmean
from torch import nn

from evaluation import EvaluationError, adcc, confidence_change, deletion_curve, insertion_curve
from explainers import explain
from tests.unit.evaluation.conftest import pixels


def gradcam_maps(model, x):
    targets = model(x).argmax(1)
    maps = explain(model, x, targets, "gradcam", target_layer=model.default_target_layer)
    # Quantus sorts with np.argsort (not stable): tiny jitter makes every map value distinct.
    return targets, maps + 1e-6 * torch.rand(maps.shape, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("step", [16, 64])
def test_deletion_matches_quantus_pixel_flipping(small_cnn, photos, step):
    x = pixels(photos, 48)  # Quantus wants its step (3 * step here) to divide H W
    targets, maps = gradcam_maps(small_cnn, x)
    ours = deletion_curve(small_cnn, x, targets, maps, step=step, baseline=torch.zeros(1, 3, 1, 1),
                          batch_size=37)
    # Quantus flips (channel, pixel) features: the map repeated over the 3 channels and 3 * step
    # features per step remove the same `step` pixels in every channel.
    quantus = PixelFlipping(features_in_step=3 * step, perturb_baseline=0.0, normalise=False, abs=False,
                            disable_warnings=True)
    theirs = np.array(quantus(model=small_cnn, x_batch=x.numpy(), y_batch=targets.numpy(),
                              a_batch=maps[:, None].expand(-1, 3, -1, -1).numpy(), channel_first=True,
                              softmax=True, device="cpu"))
    assert ours.scores.shape == (8, 48 * 48 // step + 1)
    np.testing.assert_allclose(ours.scores[:, 1:], theirs, atol=1e-5)
    quantus_auc = np.trapezoid(theirs, dx=1, axis=1)
    first = (ours.scores[:, 0] + ours.scores[:, 1]) / 2 * ours.fractions[1]
    np.testing.assert_allclose((ours.auc - first) * (len(ours.fractions) - 1), quantus_auc, atol=1e-4)


class HandModel(nn.Module):
    """Two logits of a (B, 3, 2, 2) image: its weighted pixel sum and zero."""

    def __init__(self):
        super().__init__()
        self.weights = torch.tensor([[1.0, -2.0], [3.0, 0.5]]).repeat(3, 1, 1)

    def forward(self, x):
        return torch.stack([(x * self.weights).sum(dim=(1, 2, 3)), torch.zeros(len(x))], dim=1)


@pytest.mark.parametrize("step", [1, 3])
def test_insertion_by_definition(step):
    image = torch.tensor([[[0.2, 0.9], [0.5, 0.1]]]).repeat(3, 1, 1)[None]
    saliency = torch.tensor([[[0.1, 0.7], [0.9, 0.3]]])  # order: (1, 0), (0, 1), (1, 1), (0, 0)
    baseline = torch.full((1, 3, 2, 2), 0.4)
    curve = insertion_curve(HandModel(), image, [0], saliency, step=step, baseline=baseline)
    order = [(1, 0), (0, 1), (1, 1), (0, 0)]
    counts = [*range(0, 4, step), 4]
    expected = []
    for count in counts:
        x = baseline.clone()
        for row, col in order[:count]:
            x[..., row, col] = image[..., row, col]
        logit = float(HandModel()(x)[0, 0])
        expected.append(1 / (1 + np.exp(-logit)))  # softmax of (logit, 0) = sigmoid(logit)
    np.testing.assert_allclose(curve.fractions, np.array(counts) / 4)
    np.testing.assert_allclose(curve.scores[0], expected, rtol=1e-6)
    widths = np.diff(np.array(counts) / 4)
    by_hand = sum(w * (a + b) / 2 for w, a, b in zip(widths, expected, expected[1:]))
    np.testing.assert_allclose(curve.auc[0], by_hand, rtol=1e-6)


def test_deletion_ends_at_the_baseline_and_insertion_at_the_image(lite0, photos):
    x = lite0.preprocess(photos[:2])
    targets = lite0.module(x).argmax(1)
    maps = explain(lite0, x, targets, "gradcam")
    deletion = deletion_curve(lite0, x, targets, maps, step=224 * 224 // 4, baseline="black")
    insertion = insertion_curve(lite0, x, targets, maps, step=224 * 224 // 4, baseline="blur")
    full = lite0.module(x).softmax(1).gather(1, targets[:, None])[:, 0].detach().numpy()
    black = lite0.module(lite0.black((224, 224)).expand(2, -1, -1, -1)).softmax(1)
    np.testing.assert_allclose(deletion.scores[:, 0], full, rtol=1e-4)
    np.testing.assert_allclose(insertion.scores[:, -1], full, rtol=1e-4)
    on_black = black[torch.arange(2), targets].detach().numpy()
    np.testing.assert_allclose(deletion.scores[:, -1], on_black, rtol=1e-4)
    # A map that points at the object deletes faster than its inverse (the curves' purpose).
    inverse = deletion_curve(lite0, x, targets, 1 - maps, step=224 * 224 // 4)
    assert (deletion.auc < inverse.auc).all()


def test_bad_input_is_refused(small_cnn, photos):
    x = pixels(photos, 32)
    with pytest.raises(EvaluationError, match="targets"):
        deletion_curve(small_cnn, x, [0], torch.rand(8, 32, 32))
    with pytest.raises(EvaluationError, match="maps"):
        deletion_curve(small_cnn, x, [0] * 8, torch.rand(8, 16, 16))
    with pytest.raises(EvaluationError, match="baseline"):
        insertion_curve(small_cnn, x, [0] * 8, torch.rand(8, 32, 32), baseline="grey")


def test_average_drop_and_increase_match_pytorch_grad_cam(lite0, photos):
    # The bare module: both multiply the normalised tensor by the map.
    x = lite0.preprocess(photos)
    x = torch.cat([x, x.flip(-1)])
    targets = lite0.module(x).argmax(1)
    maps = explain(lite0, x, targets, "gradcam")
    ours = confidence_change(lite0.module, x, targets, maps)
    cam_targets = [ClassifierOutputSoftmaxTarget(int(t)) for t in targets]
    drop = DropInConfidence()(x, maps.numpy(), cam_targets, lite0.module)
    increase = IncreaseInConfidence()(x, maps.numpy(), cam_targets, lite0.module)
    # grad-cam's drop is max(0, Y - O) without the division by Y; its increase is per image.
    np.testing.assert_allclose(ours.drop * ours.full, drop, atol=1e-6)
    assert ours.increase_in_confidence == pytest.approx(100 * increase.mean())
    assert ours.average_drop == pytest.approx(100 * np.mean(drop / ours.full), rel=1e-5)
    assert 0 < ours.increase_in_confidence < 100 and ours.average_drop > 0  # both branches met


def test_explanation_image_multiplies_the_photo(lite0, photos):
    x = lite0.preprocess(photos[:1])
    target = lite0.module(x).argmax(1)
    kept = confidence_change(lite0, x, target, torch.ones(1, 224, 224))
    assert kept.masked == pytest.approx(kept.full, rel=1e-4)
    black = confidence_change(lite0, x, target, torch.zeros(1, 224, 224))
    on_black = lite0.module(lite0.black((224, 224))).softmax(1)[0, target].detach()
    assert black.masked == pytest.approx(float(on_black), rel=1e-4)


def test_adcc_by_its_formula(small_cnn, photos):
    x = pixels(photos, 32)
    targets = small_cnn(x).argmax(1)
    result = adcc(small_cnn, x, targets, "gradcam", target_layer=small_cnn.default_target_layer)
    maps = explain(small_cnn, x, targets, "gradcam", target_layer=small_cnn.default_target_layer)
    masked_maps = explain(small_cnn, x * maps[:, None], targets, "gradcam",
                          target_layer=small_cnn.default_target_layer)
    coherency = [(np.corrcoef(a.ravel(), b.ravel())[0, 1] + 1) / 2
                 for a, b in zip(maps.numpy(), masked_maps.numpy())]
    np.testing.assert_allclose(result.coherency, coherency, atol=1e-6)
    np.testing.assert_allclose(result.complexity, maps.numpy().mean(axis=(1, 2)), atol=1e-6)
    change = confidence_change(small_cnn, x, targets, maps)
    np.testing.assert_allclose(result.average_drop, change.drop, atol=1e-6)
    expected = [hmean([c, 1 - m, 1 - d]) for c, m, d in zip(coherency, result.complexity, change.drop)]
    np.testing.assert_allclose(result.adcc, expected, rtol=1e-6)
