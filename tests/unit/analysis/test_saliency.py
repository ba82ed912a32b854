"""Map-vs-gaze metrics: hand-worked tiny maps, invariances, peers (scipy, skimage, torch), MIT1003."""
import glob

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy import stats
from scipy.io import loadmat
from skimage.metrics import structural_similarity

from analysis import saliency
from analysis.errors import AnalysisError, MapShapeError

RAMP = np.array([[1.0, 2.0], [3.0, 4.0]])
BOTTOM = np.array([[0.0, 0.0], [1.0, 1.0]])


# ---------------------------------------------------------------- values worked by hand


def test_pcc_by_hand():
    # centred ramp (-1.5, -0.5, 0.5, 1.5), centred gaze (-0.5, -0.5, 0.5, 0.5): 2 / (sqrt(5) * 1)
    assert saliency.pcc(RAMP, BOTTOM) == pytest.approx(2 / np.sqrt(5), rel=1e-6)


def test_sim_by_hand():
    # ramp -> (0, 1/3, 2/3, 1) -> (0, 1/6, 1/3, 1/2); gaze -> (0, 0, 1/2, 1/2); sum of minima 5/6
    assert saliency.sim(RAMP, BOTTOM) == pytest.approx(5 / 6, rel=1e-6)


def test_kld_by_hand():
    # map (.1, .2, .3, .4), gaze (0, 0, .5, .5): .5 log(.5/.3) + .5 log(.5/.4)
    expected = 0.5 * np.log(0.5 / 0.3) + 0.5 * np.log(0.5 / 0.4)
    assert saliency.kld(RAMP, BOTTOM) == pytest.approx(expected, rel=1e-6)


def test_nss_by_hand():
    # fixation on the 4: mean 2.5, sample std sqrt(5/3)
    fixated = np.array([[0, 0], [0, 1]])
    assert saliency.nss(RAMP, fixated) == pytest.approx(1.5 / np.sqrt(5 / 3), rel=1e-6)
    # two fixations (on 1 and 4) average to the mean: 0
    assert saliency.nss(RAMP, np.array([[1, 0], [0, 1]])) == pytest.approx(0.0, abs=1e-7)


def test_auc_judd_by_hand():
    # fixated values .9 and .3; others .1 .5 .7. Thresholds .9: (fa 0, hit 1/2); .3: (fa 2/3, hit 1)
    # ROC (0,0) (0,.5) (2/3,1) (1,1): area 2/3 * (.5 + 1) / 2 + 1/3 = 5/6
    smap = np.array([[0.1, 0.9, 0.5, 0.3, 0.7]])
    fixated = np.array([[0, 1, 0, 1, 0]])
    assert saliency.auc_judd(smap, fixated) == pytest.approx(5 / 6, rel=1e-9)


def test_auc_judd_counts_tied_values_together():
    # fixated .5 and .5 tie with one negative .5, one negative 0: one threshold .5, fa 1/2, hit 1
    smap = np.array([[0.5, 0.5, 0.5, 0.0]])
    fixated = np.array([[1, 1, 0, 0]])
    assert saliency.auc_judd(smap, fixated) == pytest.approx(0.5 * 1 / 2 + 0.5, rel=1e-9)


def test_sauc_by_hand():
    # fixated values 1 and .45, the other image's fixations at .65 and 0 (always both drawn):
    # thresholds 1 .. .5 give (fa 0 -> .5, hit .5), .4 .. .1 (fa .5, hit 1), 0 (1, 1): area .25 + .5
    smap = np.array([[1.0, 0.45, 0.65, 0.0]])
    fixated = np.array([[1, 1, 0, 0]])
    other = np.array([[0, 0, 1, 1]])
    assert saliency.sauc(smap, fixated, other) == pytest.approx(0.75, rel=1e-9)
    assert saliency.sauc(smap, fixated, fixated) == pytest.approx(0.5, rel=1e-9)


def mit_auc_judd(smap, fixated):
    """Reference: the MIT MATLAB AUC_Judd as written there (without its jitter), loop by loop."""
    values = smap.ravel()
    thresholds = np.sort(values[np.flatnonzero(fixated)])[::-1]
    n_fix, n_pix = thresholds.size, values.size
    tp, fp = [0.0], [0.0]
    for i, threshold in enumerate(thresholds, start=1):
        above = np.sum(values >= threshold)
        tp.append(i / n_fix)
        fp.append((above - i) / (n_pix - n_fix))
    return np.trapezoid(tp + [1.0], fp + [1.0])


def test_auc_judd_against_the_mit_loops_when_nothing_ties():
    rng = np.random.default_rng(9)
    smap = rng.random((30, 40))
    fixated = rng.random((30, 40)) < 0.05
    assert saliency.auc_judd(smap, fixated) == pytest.approx(mit_auc_judd(smap, fixated), rel=1e-12)


def mit_auc_borji(smap, fixated, n_splits, step, seed):
    """Reference: the MIT MATLAB AUC_Borji as written there, loop by loop (same random draws)."""
    values = (smap - smap.min()) / (smap.max() - smap.min())
    flat, fixated_values = values.ravel(), values.ravel()[np.flatnonzero(fixated)]
    draws = np.random.default_rng(seed).integers(0, flat.size, size=(n_splits, fixated_values.size))
    aucs = []
    for split in range(n_splits):
        random_values = flat[draws[split]]
        top = max(fixated_values.max(), random_values.max())
        thresholds = [k * step for k in range(int(np.floor(top / step + 1e-9)), -1, -1)]
        tp, fp = [0.0], [0.0]
        for threshold in thresholds:
            tp.append(np.sum(fixated_values >= threshold) / fixated_values.size)
            fp.append(np.sum(random_values >= threshold) / fixated_values.size)
        tp.append(1.0)
        fp.append(1.0)
        aucs.append(np.trapezoid(tp, fp))
    return np.mean(aucs)


def test_auc_borji_against_the_mit_loops():
    rng = np.random.default_rng(5)
    smap = rng.random((30, 40))
    fixated = rng.random((30, 40)) < 0.05
    expected = mit_auc_borji(smap, fixated, n_splits=20, step=0.1, seed=7)
    assert saliency.auc_borji(smap, fixated, n_splits=20, seed=7) == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- peers at test time


def test_spearman_and_pcc_match_scipy():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 20, 30)).round(1)  # rounded: plenty of ties for the ranks
    gaze = rng.random((20, 30))
    for smap, got_r, got_rho in zip(maps, saliency.pcc(maps, gaze), saliency.spearman(maps, gaze)):
        assert got_r == pytest.approx(stats.pearsonr(smap.ravel(), gaze.ravel()).statistic, rel=1e-5)
        assert got_rho == pytest.approx(stats.spearmanr(smap.ravel(), gaze.ravel()).statistic, rel=1e-5)


def test_ssim_matches_skimage():
    rng = np.random.default_rng(1)
    smap = ndimage_smooth(rng.random((40, 50)))
    gaze = ndimage_smooth(rng.random((40, 50)))
    scale = lambda a: (a - a.min()) / (a.max() - a.min())  # noqa: E731
    expected = structural_similarity(
        scale(smap), scale(gaze), gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )
    assert saliency.ssim(smap, gaze) == pytest.approx(expected, rel=1e-4)
    assert saliency.ssim(gaze, gaze) == pytest.approx(1.0, rel=1e-6)


def ndimage_smooth(a):
    from scipy import ndimage

    return ndimage.gaussian_filter(a, 2.0)


@pytest.mark.parametrize("size_in, size_out", [((7, 7), (24, 32)), ((30, 40), (12, 9)), ((5, 8), (5, 8))])
def test_resize_matches_torch_bilinear(size_in, size_out):
    maps = np.random.default_rng(2).random((2, *size_in), dtype=np.float32)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(maps)[:, None], size=size_out, mode="bilinear", align_corners=False
    )[:, 0].numpy()
    np.testing.assert_allclose(saliency.resize_bilinear(maps, size_out), expected, rtol=1e-5, atol=1e-6)


def test_a_small_map_is_resized_to_the_gaze_before_scoring():
    gaze = np.random.default_rng(3).random((24, 32))
    small = np.kron(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((3, 4)))  # (6, 8)
    expected = saliency.pcc(saliency.resize_bilinear(small[None], (24, 32))[0], gaze)
    assert saliency.pcc(small, gaze) == pytest.approx(expected, rel=1e-7)


# ---------------------------------------------------------------- invariances (hypothesis)

seeds = st.integers(0, 2**32 - 1)


def random_map(seed, shape=(9, 12)):
    return np.random.default_rng(seed).random(shape) + 0.01


@settings(max_examples=40, deadline=None)
@given(seed=seeds, scale=st.floats(0.01, 100.0), shift=st.floats(-100.0, 100.0))
def test_pcc_and_nss_ignore_affine_rescaling(seed, scale, shift):
    smap, gaze = random_map(seed), random_map(seed + 1)
    fixated = gaze > 0.7
    if not fixated.any():
        fixated[0, 0] = True
    moved = smap * scale + shift
    assert saliency.pcc(moved, gaze) == pytest.approx(saliency.pcc(smap, gaze), rel=1e-4, abs=1e-5)
    assert saliency.nss(moved, fixated) == pytest.approx(saliency.nss(smap, fixated), rel=1e-4, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(seed=seeds, scale=st.floats(0.01, 100.0))
def test_identical_maps_give_sim_one_and_kld_zero(seed, scale):
    gaze = random_map(seed)
    assert saliency.sim(gaze * scale, gaze) == pytest.approx(1.0, abs=1e-5)
    assert saliency.kld(gaze * scale, gaze) == pytest.approx(0.0, abs=1e-5)
    assert saliency.pcc(gaze * scale, gaze) == pytest.approx(1.0, abs=1e-5)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, value=st.floats(-10.0, 10.0))
def test_a_constant_map_scores_auc_one_half(seed, value):
    rng = np.random.default_rng(seed)
    fixated = rng.random((9, 12)) < 0.2
    other = rng.random((9, 12)) < 0.2
    fixated[0, 0] = other[1, 1] = True
    flat = np.full((9, 12), value)
    assert saliency.auc_judd(flat, fixated) == 0.5
    assert saliency.auc_borji(flat, fixated, n_splits=10) == 0.5
    assert saliency.sauc(flat, fixated, other, n_splits=10) == 0.5


@pytest.mark.parametrize("value", [0.0, 0.3, -7.1, 1e4])
def test_constant_maps_elsewhere(value):
    gaze = random_map(0)
    flat = np.full_like(gaze, value)
    assert np.isnan(saliency.pcc(flat, gaze)) and np.isnan(saliency.spearman(flat, gaze))
    assert np.isnan(saliency.nss(flat, gaze > 0.5))
    assert np.isnan(saliency.pcc(gaze, np.full_like(gaze, 0.3)))  # a constant gaze map too
    uniform = np.full_like(gaze, 1 / gaze.size)
    assert saliency.sim(flat, gaze) == pytest.approx(saliency.sim(uniform, gaze), rel=1e-6)
    if value >= 0:
        assert saliency.kld(flat, gaze) == pytest.approx(saliency.kld(uniform, gaze), rel=1e-5)


# ---------------------------------------------------------------- batches and the entry point


def test_a_batch_scores_like_single_maps():
    rng = np.random.default_rng(4)
    maps = rng.random((5, 12, 16)).astype(np.float32)
    gaze = rng.random((24, 32))
    fixated = gaze > 0.8
    frame = saliency.score_maps(maps, gaze, fixated, metrics=saliency.METRICS, other_fixations=gaze < 0.2,
                                chunk_size=2, workers=2)
    assert list(frame.columns) == list(saliency.METRICS) and len(frame) == 5
    for i, smap in enumerate(maps):
        assert frame.loc[i, "pcc"] == pytest.approx(saliency.pcc(smap, gaze), rel=1e-6)
        assert frame.loc[i, "kld"] == pytest.approx(saliency.kld(smap, gaze), rel=1e-6)
        assert frame.loc[i, "auc_judd"] == pytest.approx(saliency.auc_judd(smap, fixated), rel=1e-9)
        assert frame.loc[i, "sauc"] == pytest.approx(saliency.sauc(smap, fixated, gaze < 0.2), rel=1e-9)
    np.testing.assert_allclose(saliency.sim(maps, gaze), frame["sim"], rtol=1e-6)


def test_scoring_leaves_the_maps_untouched():
    maps = np.random.default_rng(6).random((3, 16, 16)).astype(np.float32)
    before = maps.copy()
    saliency.score_maps(maps, np.ones((16, 16)), np.eye(16), metrics=saliency.METRICS[:-1])
    np.testing.assert_array_equal(maps, before)


@pytest.mark.parametrize(
    "call",
    [
        lambda: saliency.score_maps(np.ones((1, 4, 4)), np.ones((4, 4)), metrics=("pcc", "cc")),
        lambda: saliency.score_maps(np.ones((1, 4, 4)), metrics=("pcc",)),
        lambda: saliency.score_maps(np.ones((1, 4, 4)), np.ones((4, 4)), metrics=("nss",)),
        lambda: saliency.score_maps(np.ones((1, 4, 4)), np.ones((4, 4)), np.eye(4), metrics=("sauc",)),
    ],
)
def test_the_entry_point_names_what_is_missing(call):
    with pytest.raises(AnalysisError):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: saliency.pcc(np.ones((4,)), np.ones((4, 4))),
        lambda: saliency.pcc(np.ones((2, 2, 4, 4)), np.ones((4, 4))),
        lambda: saliency.pcc(np.array([[np.nan, 1.0], [1.0, 1.0]]), np.ones((4, 4))),
        lambda: saliency.pcc(np.ones((4, 4)), -np.ones((4, 4))),
        lambda: saliency.pcc(np.ones((4, 4)), np.zeros((4, 4))),
        lambda: saliency.kld(-np.eye(4), np.ones((4, 4))),
        lambda: saliency.nss(np.eye(4), np.zeros((4, 4))),
        lambda: saliency.sauc(np.eye(4), np.eye(4), np.eye(5)),
        lambda: saliency.ssim(np.eye(10), np.ones((10, 10))),
        lambda: saliency.score_maps(np.ones((1, 4, 4)), np.ones((4, 4)), np.eye(5), metrics=("pcc", "nss")),
    ],
)
def test_bad_maps_are_refused(call):
    with pytest.raises(MapShapeError):
        call()


# ---------------------------------------------------------------- real gaze data (MIT1003)


def mit_reference(smap, gaze):
    """Reference: PCC, SIM and KLD in float64 exactly as the MIT MATLAB code writes them."""
    smap, gaze = smap.astype(np.float64), gaze.astype(np.float64)
    cc = np.corrcoef(smap.ravel(), gaze.ravel())[0, 1]
    scaled = [(m - m.min()) / (m.max() - m.min()) for m in (smap, gaze)]
    similarity = np.minimum(*[m / m.sum() for m in scaled]).sum()
    p, q = smap / smap.sum(), gaze / gaze.sum()
    eps = np.finfo(np.float64).eps
    divergence = np.sum(q * np.log(eps + q / (p + eps)))
    return cc, similarity, divergence


def test_real_maps_against_float64_references(mit1003_dir):
    files = sorted(glob.glob(str(mit1003_dir / "fixation_maps" / "*.jpg")))[:6]
    maps = [np.asarray(Image.open(f).convert("L"), dtype=np.float32) for f in files]
    gaze = maps[0]
    others = np.stack([np.asarray(Image.fromarray(m).resize(gaze.shape[::-1], Image.BILINEAR)) for m in maps[1:]])
    frame = saliency.score_maps(others.astype(np.float32), gaze, metrics=("pcc", "sim", "kld"))
    for row, smap in zip(frame.itertuples(), others):
        cc, similarity, divergence = mit_reference(smap, gaze)
        assert row.pcc == pytest.approx(cc, rel=1e-5)
        assert row.sim == pytest.approx(similarity, rel=1e-5)
        assert row.kld == pytest.approx(divergence, rel=1e-5)
    # a fixation map is its own best predictor
    assert saliency.pcc(gaze, gaze) == pytest.approx(1.0, abs=1e-6)
    assert (frame["pcc"] < 0.99).all() and (frame["kld"] > 0.1).all()


def test_real_i210_fixations(mit1003_dir):
    folder = mit1003_dir / "fixation_points"
    fixated = loadmat(folder / "i210_fixation_locations.mat")["fixations"]
    density = np.asarray(Image.open(folder / "i210_fixation_map.jpg").convert("L"), dtype=np.float32)
    height, width = fixated.shape
    rows, cols = np.mgrid[0:height, 0:width]
    centre_bias = np.exp(-(((rows - height / 2) / (height / 4)) ** 2 + ((cols - width / 2) / (width / 4)) ** 2))
    noise = np.random.default_rng(0).random(fixated.shape)
    frame = saliency.score_maps(
        np.stack([density, centre_bias, noise]).astype(np.float32), density, fixated,
        metrics=("nss", "auc_judd", "auc_borji"),
    )
    human, centre, chance = frame.to_dict("records")
    # the humans' own density predicts their fixations best, a centre bias well, noise not at all
    assert human["auc_judd"] > 0.95 and human["nss"] > 3
    assert 0.6 < centre["auc_judd"] < human["auc_judd"] and centre["nss"] > 0.5
    assert chance["auc_judd"] == pytest.approx(0.5, abs=0.05) and abs(chance["nss"]) < 0.2
    assert human["auc_borji"] > centre["auc_borji"] > chance["auc_borji"]
    # the NSS at the fixations equals the mean z-score there, computed directly in float64
    z = (density - density.mean(dtype=np.float64)) / density.std(ddof=1, dtype=np.float64)
    assert human["nss"] == pytest.approx(z[fixated > 0].mean(), rel=1e-5)


@pytest.mark.parametrize("scale", [1e-30, 1e25])
def test_float32_maps_score_like_float64_maps_even_when_tiny_or_huge(scale):
    rng = np.random.default_rng(8)
    gaze = rng.random((20, 30))
    smap = rng.random((20, 30)) * scale
    smap[rng.random((20, 30)) < 0.3] = 0.0
    for metric in (saliency.pcc, saliency.sim, saliency.kld, saliency.nss):
        target = gaze > 0.9 if metric is saliency.nss else gaze
        assert metric(smap.astype(np.float32), target) == pytest.approx(metric(smap, target), rel=1e-5)
