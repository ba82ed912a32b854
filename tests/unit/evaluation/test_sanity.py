"""Parameter randomisation against Quantus' MPRT; the published direction of the cascading check on
EfficientNet-Lite0 (Adebayo et al.); data randomisation with the small CNN; the similarity scores."""
from pathlib import Path

import numpy as np
import pytest
import torch
from quantus import MPRT
from quantus.functions.similarity_func import correlation_spearman
from scipy import stats
from skimage.metrics import structural_similarity

from evaluation import data_randomisation, map_similarity, parameter_randomisation
from explainers import explain
from tests.unit.evaluation.conftest import pixels


def test_map_similarity_by_hand():
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 1, 48, 48))
    same = map_similarity(a[None, 0], a[None, 0])
    assert (same.spearman[0], same.ssim[0], same.hog[0]) == pytest.approx((1, 1, 1))
    other = map_similarity(a, b)
    assert other.spearman[0] == pytest.approx(stats.spearmanr(a.ravel(), b.ravel()).statistic)
    assert other.ssim[0] == pytest.approx(structural_similarity(a[0], b[0], data_range=1.0))
    assert np.isnan(map_similarity(np.zeros((1, 48, 48)), a).spearman[0])


@pytest.mark.parametrize("order,quantus_order", [("cascading", "top_down"), ("independent", "independent")])
def test_parameter_randomisation_matches_quantus_mprt(small_cnn, photos, order, quantus_order):
    x = pixels(photos, 32)[:4]
    targets = small_cnn(x).argmax(1)

    def explain_func(model, inputs, targets, **kwargs):
        return explain(model, torch.as_tensor(inputs), torch.as_tensor(targets), "gradient").numpy()[:, None]

    ours = parameter_randomisation(small_cnn, x, targets, "gradient", order=order, seed=43)
    theirs = MPRT(layer_order=quantus_order, seed=42, normalise=False, abs=False, disable_warnings=True,
                  similarity_func=correlation_spearman)(
        model=small_cnn, x_batch=x.numpy(), y_batch=targets.numpy(),
        a_batch=explain_func(small_cnn, x, targets), explain_func=explain_func, channel_first=True,
        device="cpu")
    names = [name for name in theirs if name != "original"]
    # Quantus lists independent randomisation from the input up; the order changes nothing there.
    assert list(ours.layers) == (names if order == "cascading" else names[::-1])
    for name, similarity in zip(ours.layers, ours.similarity):
        np.testing.assert_allclose(similarity.spearman, theirs[name], atol=1e-6)
    assert not np.allclose(ours.similarity[-1].spearman, 1)  # the maps did change


LITE0_TOP = ("_fc", "_bn1", "_conv_head", "_blocks.15", "_blocks.14", "_blocks.13")


def test_cascading_randomisation_on_efficientnet_lite0_reproduces_the_published_direction(lite0, photos):
    """Adebayo et al.: gradient and Grad-CAM maps decorrelate as the top layers are randomised;
    guided backprop barely changes (it mostly recovers the image's edges)."""
    x = lite0.preprocess(photos[:2])
    targets = lite0.module(x).argmax(1)
    after = {}
    for method in ("gradient", "gradcam", "guided_backprop"):
        result = parameter_randomisation(lite0, x, targets, method, layers=LITE0_TOP)
        after[method] = float(np.mean(result.similarity[-1].spearman))
    assert after["guided_backprop"] > 0.7, after
    assert after["gradient"] < after["guided_backprop"] - 0.3, after
    assert after["gradcam"] < 0.5, after


def test_the_model_is_left_untouched(small_cnn, photos):
    before = {k: v.clone() for k, v in small_cnn.state_dict().items()}
    x = pixels(photos, 32)[:2]
    parameter_randomisation(small_cnn, x, [0, 1], "gradient", layers=["classifier.3"])
    assert all(torch.equal(before[k], v) for k, v in small_cnn.state_dict().items())


FASHION = Path(__file__).resolve().parents[3] / "fixtures" / "fashion_mnist_subset.npz"


def test_data_randomisation_with_the_small_cnn():
    """A SmallCNN trained on permuted labels is at chance, and its gradient maps differ from those
    of the same network trained on the true labels."""
    with np.load(FASHION) as data:
        train = (data["x_train"][:2000], data["y_train"][:2000])
        test = (data["x_test"][:200], data["y_test"][:200])
    result = data_randomisation(train, test, "gradient", n_maps=8, size=28 + 4, width=8, epochs=4)
    assert result.true_labels.test_accuracy > 0.5
    assert result.permuted_labels.test_accuracy < 0.25
    assert result.similarity.spearman.shape == (8,)
    assert np.mean(result.similarity.spearman) < 0.9
