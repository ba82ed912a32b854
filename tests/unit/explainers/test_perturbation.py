"""Occlusion against captum; RISE and LIME against their definitions with fixed seeds, LIME's
weights against captum's Lime fed the same samples, kernel and ridge model."""
import numpy as np
import pytest
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import Lime, Occlusion
from PIL import Image
from skimage.transform import resize
from sklearn.metrics.pairwise import cosine_distances

from explainers import ExplainError, explain, load_model
from explainers.perturbation import (lime_attributions, lime_kernel, lime_samples, lime_weights,
                                     occlusion_attributions, rise_attributions, rise_masks, segments)

TARGETS = [1, 4, 7]


@pytest.fixture
def images(photos) -> torch.Tensor:
    """Three photos at 32 x 32, normalised to about [-2, 2]: (3, 3, 32, 32)."""
    arrays = [np.asarray(Image.fromarray(p).convert("RGB").resize((32, 32))) for p in photos[:3]]
    return (torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.25


@pytest.mark.parametrize(("window", "stride"), [(8, 4), (12, 5), (32, 32)])
def test_occlusion_matches_captum(small_cnn, images, window, stride):
    baseline = torch.full((1, 3, 32, 32), -2.0)
    ours = occlusion_attributions(small_cnn, images, TARGETS, window=window, stride=stride, baseline=baseline,
                                  internal_batch_size=16)
    theirs = Occlusion(small_cnn).attribute(images, sliding_window_shapes=(3, window, window),
                                            strides=(3, stride, stride), baselines=-2.0, target=TARGETS)
    assert ours.shape == (3, 32, 32)
    for channel in range(3):
        torch.testing.assert_close(ours, theirs[:, channel], rtol=1e-4, atol=1e-5)


def test_occlusion_refuses_a_stride_above_the_window(small_cnn, images):
    with pytest.raises(ExplainError, match="stride <= window"):
        occlusion_attributions(small_cnn, images, TARGETS, window=4, stride=8)


def test_rise_masks_follow_the_definition():
    """Each mask: a 5 x 5 grid of Bernoulli(0.3) cells, bilinearly upsampled (scikit-image, as the
    RISE authors' code) to 6 cells of 8 pixels, cropped to 40 x 40 at a shift below one cell."""
    masks = rise_masks(30, (40, 40), cells=5, p=0.3, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(0)
    grids = (torch.rand(30, 1, 5, 5, generator=generator) < 0.3).double().numpy()
    dy, dx = torch.randint(0, 8, (30,), generator=generator), torch.randint(0, 8, (30,), generator=generator)
    for mask, grid, top, left in zip(masks, grids, dy.tolist(), dx.tolist()):
        up = resize(grid[0], (48, 48), order=1, mode="edge", anti_aliasing=False)
        np.testing.assert_allclose(mask.numpy(), up[top:top + 40, left:left + 40], atol=1e-6)
    many = rise_masks(2000, (40, 40), 5, 0.3, torch.Generator().manual_seed(1))
    assert abs(float(many.mean()) - 0.3) < 0.02


def test_rise_by_definition(small_cnn, images):
    baseline = torch.full((1, 3, 32, 32), -2.0)
    ours = rise_attributions(small_cnn, images, TARGETS, masks=60, cells=4, p=0.5, seed=3, baseline=baseline,
                             internal_batch_size=20, mask_chunk=25)
    generator = torch.Generator().manual_seed(3)
    masks = torch.cat([rise_masks(n, (32, 32), 4, 0.5, generator) for n in (25, 25, 10)])
    expected = torch.zeros(3, 32, 32)
    with torch.no_grad():
        for mask in masks:
            masked = images * mask + baseline * (1 - mask)
            probs = small_cnn(masked).softmax(dim=1)[torch.arange(3), TARGETS]
            expected += probs[:, None, None] * mask / (60 * 0.5)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-6)


def test_lime_kernel_is_limes():
    samples = lime_samples(50, 16, torch.Generator().manual_seed(0)).double()
    samples[1] = 0  # the all-off sample: cosine distance 1, as sklearn's
    distances = cosine_distances(samples.numpy(), np.ones((1, 16)))[:, 0]
    expected = np.sqrt(np.exp(-(distances**2) / 0.25**2))
    np.testing.assert_allclose(lime_kernel(samples, 0.25).numpy(), expected, rtol=1e-12)
    assert float(samples[0].min()) == 1  # the first sample is the unperturbed image


def test_lime_weights_match_captum_lime_on_the_same_samples(small_cnn, images):
    image, target, baseline = images[0], TARGETS[0], torch.full((3, 32, 32), -2.0)
    labels = segments(image, "grid", 16)
    draws = lime_samples(128, 16, torch.Generator().manual_seed(1))
    ours = lime_weights(small_cnn, image, baseline, torch.tensor([target]), labels, draws, 0.25, 1.0)

    def perturb(original, **kwargs):
        yield from (row[None].long() for row in draws)

    def similarity(original, perturbed, interpretable, **kwargs):
        distance = cosine_distances(interpretable.double().numpy(), np.ones((1, 16)))[0, 0]
        return float(np.sqrt(np.exp(-(distance**2) / 0.25**2)))

    peer = Lime(lambda x: small_cnn(x).softmax(dim=1), interpretable_model=SkLearnRidge(alpha=1.0),
                similarity_func=similarity, perturb_func=perturb)
    mask = labels[None, None].expand(1, 3, 32, 32)
    theirs = peer.attribute(image[None], target=target, baselines=-2.0, feature_mask=mask, n_samples=128,
                            perturbations_per_eval=16, return_input_shape=False)[0]
    torch.testing.assert_close(ours, theirs.float(), rtol=1e-3, atol=1e-5)


def test_lime_map_keeps_the_top_k_segments(small_cnn, images):
    maps = lime_attributions(small_cnn, images, TARGETS, samples=96, k=3, seed=2)
    full = lime_attributions(small_cnn, images, TARGETS, samples=96, k=0, seed=2)
    for kept, every in zip(maps, full):
        values = every.unique()
        assert len(values) == 16  # one weight per grid cell
        top = values.sort(descending=True).values[:3]
        expected = torch.cat([torch.zeros(1), top]).sort().values
        torch.testing.assert_close(kept.unique().sort().values, expected)


def test_slic_segments_on_a_photo(photos):
    model = load_model({"arch": "small_cnn", "num_classes": 10, "input_size": 64})
    image = model.preprocess(photos[1:2])[0]
    labels = segments(image, "slic", 16)
    assert labels.shape == (64, 64) and 8 <= int(labels.max()) + 1 <= 24
    assert set(labels.unique().tolist()) == set(range(int(labels.max()) + 1))
    maps = explain(model, model.preprocess(photos[:2]), [0, 1], "lime", segmentation="slic", samples=32)
    assert maps.shape == (2, 64, 64)
    with pytest.raises(ExplainError, match="grid needs a square number"):
        segments(image, "grid", 10)
