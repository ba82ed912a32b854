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
    baseline = saliency.centre_bias((24, 32))
    frame = saliency.score_maps(maps, gaze, fixated, metrics=saliency.METRICS, other_fixations=gaze < 0.2,
                                baseline=baseline, chunk_size=2, workers=2)
    assert list(frame.columns) == list(saliency.METRICS) and len(frame) == 5
    for i, smap in enumerate(maps):
        assert frame.loc[i, "pcc"] == pytest.approx(saliency.pcc(smap, gaze), rel=1e-6)
        assert frame.loc[i, "kld"] == pytest.approx(saliency.kld(smap, gaze), rel=1e-6)
        assert frame.loc[i, "auc_judd"] == pytest.approx(saliency.auc_judd(smap, fixated), rel=1e-9)
        assert frame.loc[i, "sauc"] == pytest.approx(saliency.sauc(smap, fixated, gaze < 0.2), rel=1e-9)
        assert frame.loc[i, "ig"] == pytest.approx(saliency.information_gain(smap, fixated, baseline), rel=1e-9)
        assert frame.loc[i, "emd"] == pytest.approx(saliency.emd(smap, gaze), rel=1e-6)
    np.testing.assert_allclose(saliency.sim(maps, gaze), frame["sim"], rtol=1e-6)


def test_scoring_leaves_the_maps_untouched():
    maps = np.random.default_rng(6).random((3, 16, 16)).astype(np.float32)
    before = maps.copy()
    saliency.score_maps(maps, np.ones((16, 16)), np.eye(16), metrics=[m for m in saliency.METRICS if m != "sauc"],
                        baseline=np.ones((16, 16)))
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


# ---------------------------------------------------------------- edges found against pysaliency's cases


def test_kld_of_a_map_with_itself_is_never_negative():
    rng = np.random.default_rng(11)
    for _ in range(20):
        gaze = rng.random((37, 53)) ** 4
        assert saliency.kld(gaze, gaze) >= 0.0
        assert saliency.kld(gaze.astype(np.float32), gaze) >= 0.0


def test_a_pixel_of_exactly_a_threshold_counts_as_above_it():
    # min-max keeps the values 0, .3, .25, 1; the fixated pixel is exactly .3, the other image's .25.
    # At the threshold .3 the fixation is in and the other is out: ROC point (0, 1), AUC 1. Built as
    # 3 * 0.1 = 0.30000000000000004, the threshold would miss the fixation: ROC (0, 0) -> (1, 1), 0.5.
    smap = np.array([[0.0, 0.3, 0.25, 1.0]])
    fixated = np.array([[0, 1, 0, 0]])
    other = np.array([[0, 0, 1, 0]])
    assert 3 * 0.1 != 0.3 and saliency._thresholds(1.0, 0.1)[7] == 0.3
    assert saliency.sauc(smap, fixated, other, n_splits=2) == 1.0
    assert saliency.auc_borji(np.array([[0.0, 0.3, 1.0]]), np.array([[0, 1, 0]]), n_splits=50) > 0.5


def test_an_all_zero_gaze_map_is_refused_with_a_clear_error():
    for metric in (saliency.sim, saliency.kld, saliency.pcc, saliency.emd):
        with pytest.raises(MapShapeError, match="not all zero"):
            metric(np.eye(4), np.zeros((4, 4)))


# ---------------------------------------------------------------- baselines, information gain, EMD


def test_centre_bias_as_the_mit_benchmark_defines_it():
    bias = saliency.centre_bias((30, 40))
    assert bias.sum() == pytest.approx(1.0) and bias.shape == (30, 40)
    # symmetric about the centre, peak there (between pixels 14/15 and 19/20)
    np.testing.assert_allclose(bias, bias[::-1, ::-1], rtol=1e-12)
    assert bias[14, 19] == bias.max()
    # stretched to the aspect ratio: a quarter of the width to the side equals a quarter of the height down
    log = np.log(bias / bias.max())
    rows, cols = np.mgrid[0:30, 0:40]
    expected = -0.5 * (((cols - 19.5) / (0.25 * 40)) ** 2 + ((rows - 14.5) / (0.25 * 30)) ** 2)
    np.testing.assert_allclose(log - log.max(), expected - expected.max(), atol=1e-12)


def test_information_gain_by_hand():
    # map (1, 2, 3, 4) -> min-max (0, 1/3, 2/3, 1) -> /2 = (0, 1/6, 1/3, 1/2); baseline uniform
    # -> min-max of a constant is all zero: uniform (1/4 each). Fixations on 3 and 4:
    # mean(log2(1/3 / 1/4), log2(1/2 / 1/4)) = (log2(4/3) + 1) / 2 bits
    fixated = np.array([[0, 0], [1, 1]])
    expected = (np.log2(4 / 3) + 1) / 2
    assert saliency.information_gain(RAMP, fixated, np.ones((2, 2))) == pytest.approx(expected, rel=1e-9)
    # a map is no better than itself, and the centre bias predicts centred fixations better than uniform
    assert saliency.information_gain(RAMP, fixated, RAMP) == pytest.approx(0.0, abs=1e-12)
    centred = np.zeros((9, 9))
    centred[4, 4] = 1
    assert saliency.information_gain(saliency.centre_bias((9, 9)), centred, np.ones((9, 9))) > 0


def test_information_gain_in_bits_of_a_worked_density():
    # p = (.1, .2, .3, .4) after min-max? no: use a map whose min is 0 so min-max keeps ratios
    smap = np.array([[0.0, 1.0], [2.0, 5.0]])  # -> /8 after min-max (0, 1/5, 2/5, 1) -> (0, 1/8, 1/4, 5/8)
    base = np.array([[0.0, 1.0], [1.0, 2.0]])  # -> (0, .5, .5, 1) -> (0, 1/4, 1/4, 1/2)
    fixated = np.array([[0, 1], [0, 1]])
    expected = np.mean([np.log2((1 / 8) / (1 / 4)), np.log2((5 / 8) / (1 / 2))])
    assert saliency.information_gain(smap, fixated, base) == pytest.approx(expected, rel=1e-12)


def linprog_emd(p: np.ndarray, q: np.ndarray) -> float:
    """The transport problem as a plain linear program (scipy's HiGHS): min sum C f, rows of f sum to
    p, columns to q, f >= 0, C the Euclidean distance between pixel positions."""
    from scipy.optimize import linprog

    positions = np.argwhere(np.ones(p.shape)).astype(float)
    cost = np.linalg.norm(positions[:, None] - positions[None, :], axis=2)
    n = p.size
    rows = np.kron(np.eye(n), np.ones(n))  # sum over j of f[i, j]
    cols = np.kron(np.ones(n), np.eye(n))  # sum over i of f[i, j]
    result = linprog(cost.ravel(), A_eq=np.vstack([rows, cols]), b_eq=np.r_[p.ravel(), q.ravel()],
                     bounds=(0, None), method="highs")
    assert result.status == 0
    return float(result.fun)


@pytest.mark.parametrize("seed", range(3))
def test_transport_cost_matches_a_linear_program_on_4x4(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.random((4, 4)) ** 3, rng.random((4, 4)) ** 3
    p, q = p / p.sum(), q / q.sum()
    assert saliency.transport_cost(p, q) == pytest.approx(linprog_emd(p, q), rel=1e-9, abs=1e-12)


def test_emd_by_hand():
    # one bright pixel moved from (0, 0) to (3, 3) on a 4x4 grid, no downsampling: all the mass
    # travels sqrt(18) pixels (the histogram matching leaves a one-hot map one-hot)
    gaze, smap = np.zeros((4, 4)), np.zeros((4, 4))
    gaze[0, 0], smap[3, 3] = 1.0, 1.0
    assert saliency.emd(smap, gaze, factor=1) == pytest.approx(np.sqrt(18), rel=1e-9)
    assert saliency.emd(gaze, gaze, factor=1) == pytest.approx(0.0, abs=1e-12)
    # half the mass one pixel to the right: 0.5
    split = np.zeros((4, 4))
    split[0, 0] = split[0, 1] = 1.0
    assert saliency.transport_cost(gaze, split / 2) == pytest.approx(0.5)
    # the MIT downsampling: 64x96 -> 2x3 blocks of 32x32
    big = np.zeros((64, 96))
    big[:32, :32] = 1.0
    moved = np.zeros((64, 96))
    moved[32:, 64:] = 1.0
    assert saliency.emd(moved, big) == pytest.approx(np.sqrt(1 + 4), rel=1e-9)
    np.testing.assert_allclose(saliency.downsample(big[None], (2, 3))[0], [[1, 0, 0], [0, 0, 0]])


def test_shuffled_fixations_are_scaled_to_the_grid():
    # pixel centres aligned: x' = (x + .5) * 2 - .5. The centre of a 10x20 image (9.5, 4.5) lands at
    # (19.5, 9.5), the centre of the 20x40 grid, rounded half to even to (20, 10); (0, 0) -> .5 -> 0.
    others = [(np.array([[9.5, 4.5], [0.0, 0.0]]), (10, 20))]
    fixated = saliency.shuffled_fixations(others, (20, 40))
    assert sorted(map(tuple, np.argwhere(fixated).tolist())) == [(0, 0), (10, 20)]


def mit_auc_shuffled(smap, fixated, other, n_splits, step, seed):
    """Reference: the MIT MATLAB AUC_shuffled as written there, loop by loop (same random draws):
    as many of the other images' fixations as this image has, permuted per split."""
    values = ((smap - smap.min()) / (smap.max() - smap.min())).ravel()
    fixated_values = values[np.flatnonzero(fixated)]
    locations = np.flatnonzero(other)
    count = min(fixated_values.size, locations.size)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_splits):
        current = values[rng.permutation(locations)[:count]]
        top = max(fixated_values.max(), current.max())
        tp, fp = [0.0], [0.0]
        for threshold in [k * step for k in range(int(np.floor(top / step + 1e-9)), -1, -1)]:
            tp.append(np.sum(fixated_values >= threshold) / fixated_values.size)
            fp.append(np.sum(current >= threshold) / count)
        aucs.append(np.trapezoid(tp + [1.0], fp + [1.0]))
    return np.mean(aucs)


def test_sauc_against_the_mit_loops():
    rng = np.random.default_rng(12)
    smap = rng.random((30, 40))
    fixated = rng.random((30, 40)) < 0.04
    other = rng.random((30, 40)) < 0.06
    expected = mit_auc_shuffled(smap, fixated, other, n_splits=25, step=0.1, seed=3)
    assert saliency.sauc(smap, fixated, other, n_splits=25, seed=3) == pytest.approx(expected, rel=1e-12)
    # centre-biased fixations on other images: a centre-bias map gains nothing under sAUC
    rows, cols = np.mgrid[0:30, 0:40]
    near_centre = (np.abs(rows - 15) < 6) & (np.abs(cols - 20) < 8)
    centred = near_centre & (rng.random((30, 40)) < 0.3)
    others_centred = near_centre & (rng.random((30, 40)) < 0.3)
    bias = saliency.centre_bias((30, 40))
    assert saliency.auc_borji(bias, centred) > 0.8
    assert saliency.sauc(bias, centred, others_centred) == pytest.approx(0.5, abs=0.1)
