"""The adversarial plausibility test: segments, PGD confined to the chosen ones, top-k recovery."""
import numpy as np
import pytest
import torch

from evaluation import EvaluationError, plausibility_test, segment, segment_pgd
from evaluation.adversarial import top_segments


def test_grid_and_slic_segments(photos):
    grid = segment(np.zeros((8, 8, 3)), "grid", 16)
    expected = np.repeat(np.repeat(np.arange(16).reshape(4, 4), 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(grid, expected)
    image = photos[1][::4, ::4] / 255.0
    superpixels = segment(image, "slic", 16)
    assert superpixels.shape == image.shape[:2] and 8 <= len(np.unique(superpixels)) <= 32
    np.testing.assert_array_equal(np.unique(superpixels), np.arange(superpixels.max() + 1))
    with pytest.raises(EvaluationError, match="square"):
        segment(image, "grid", 15)


def test_top_segments_by_mean_value():
    ids = segment(np.zeros((4, 4, 3)), "grid", 4)  # 2x2 blocks
    map_ = np.zeros((4, 4))
    map_[0, 0] = 4.0  # block 0: mean 1
    map_[2:, 2:] = 2.0  # block 3: mean 2
    map_[0, 2] = 2.0  # block 1: mean 0.5
    np.testing.assert_array_equal(top_segments(map_[None], ids[None], 3), [[3, 0, 1]])


def test_pgd_changes_only_the_chosen_segments_within_the_budget(lite0, photos):
    x = lite0.preprocess(photos[:2])
    targets = lite0.module(x).argmax(1)
    masks = torch.zeros(2, 224, 224, dtype=torch.bool)
    masks[:, :112, :112] = True
    attack = segment_pgd(lite0, x, targets, masks, epsilon=8 / 255, step_size=2 / 255, max_steps=10)
    change = (lite0.to_display(attack.images) - lite0.to_display(x)).abs()
    assert change[:, :, ~masks[0]].max() == 0
    assert change.max() <= 8 / 255 + 1e-6
    labels = lite0.module(attack.images).argmax(1)
    np.testing.assert_array_equal(attack.flipped, (labels != targets).numpy())
    assert attack.flipped.any()
    assert (attack.steps[attack.flipped] <= 10).all()


@pytest.mark.parametrize("segmentation", ["grid", "slic"])
def test_plausibility_scores_the_flipped_images(lite0, photos, segmentation):
    x = lite0.preprocess(photos[:3])
    targets = lite0.module(x).argmax(1)
    result = plausibility_test(lite0, x, targets, ["gradient", "gradcam"], segmentation=segmentation,
                               step_size=2 / 255, max_steps=10)
    assert result.chosen.shape == (3, 3)
    for ids, chosen, flipped_image, image in zip(result.segments, result.chosen, result.attack.images, x):
        changed = (flipped_image != image).any(dim=0).numpy()
        assert np.isin(ids[changed], chosen).all()
    assert 0 < result.flip_rate <= 1
    flipped = result.attack.flipped
    for recovery in result.recovery.values():
        assert np.isnan(recovery[~flipped]).all()
        assert np.isin(recovery[flipped], [0, 1 / 3, 2 / 3, 1]).all()
