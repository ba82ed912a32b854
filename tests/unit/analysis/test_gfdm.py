"""GFDMs from fixations: hand-worked Gaussians, scipy's blur as the reference, the real i210 map."""
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from scipy.io import loadmat

from analysis import gfdm
from analysis.errors import MapShapeError
from analysis.saliency import pcc


def blurred_histogram(points, shape, sigma, weights=None):
    """Reference: a fixation histogram blurred by scipy, zero-padded, kernel wide enough to be exact."""
    counts = np.zeros(shape)
    rows, cols = np.rint(points[:, 1]).astype(int), np.rint(points[:, 0]).astype(int)
    np.add.at(counts, (rows, cols), 1.0 if weights is None else weights)
    blurred = ndimage.gaussian_filter(counts, sigma, mode="constant", truncate=max(shape) / sigma)
    return blurred / blurred.sum()


def test_single_fixation_is_a_gaussian_worked_by_hand():
    density = gfdm.density_from_fixations(np.array([[20.0, 10.0]]), (21, 41), sigma_px=3.0)
    assert density.shape == (21, 41) and density.dtype == np.float32
    assert np.unravel_index(density.argmax(), density.shape) == (10, 20)
    assert density.sum() == pytest.approx(1.0, abs=1e-6)
    # one sigma away the value falls by exp(-1/2), two sigmas diagonally by exp(-4)
    assert density[10, 23] / density[10, 20] == pytest.approx(np.exp(-0.5), rel=1e-6)
    assert density[16, 26] / density[10, 20] == pytest.approx(np.exp(-4.0), rel=1e-5)


def test_matches_scipy_gaussian_filter_of_the_fixation_histogram():
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(0, 159, 300), rng.uniform(0, 119, 300)])
    weights = rng.uniform(0.1, 2.0, 300)
    for w in (None, weights):
        expected = blurred_histogram(points, (120, 160), 9.0, w)
        got = gfdm.density_from_fixations(points, (120, 160), 9.0, w)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)


def test_weights_behave_like_repeated_fixations():
    points = np.array([[3.0, 4.0], [10.0, 2.0]])
    doubled = gfdm.density_from_fixations(np.vstack([points, points[:1]]), (8, 16), 2.0)
    weighted = gfdm.density_from_fixations(points, (8, 16), 2.0, weights=np.array([2.0, 1.0]))
    np.testing.assert_allclose(weighted, doubled, rtol=1e-6)
    scaled = gfdm.density_from_fixations(points, (8, 16), 2.0, weights=np.array([6.0, 3.0]))
    np.testing.assert_allclose(scaled, weighted, rtol=1e-6)


@pytest.mark.parametrize(
    "points, shape, sigma, weights",
    [
        (np.array([[16.0, 2.0]]), (8, 16), 2.0, None),  # x beyond the right edge
        (np.array([[1.0, -0.6]]), (8, 16), 2.0, None),  # rounds to row -1
        (np.array([[1.0, np.nan]]), (8, 16), 2.0, None),
        (np.array([1.0, 2.0]), (8, 16), 2.0, None),  # not (N, 2)
        (np.empty((0, 2)), (8, 16), 2.0, None),
        (np.array([[1.0, 2.0]]), (8, 16), 0.0, None),
        (np.array([[1.0, 2.0]]), (0, 16), 2.0, None),
        (np.array([[1.0, 2.0]]), (8, 16), 2.0, np.array([-1.0])),
        (np.array([[1.0, 2.0]]), (8, 16), 2.0, np.array([1.0, 1.0])),
    ],
)
def test_bad_input_is_refused(points, shape, sigma, weights):
    with pytest.raises(MapShapeError):
        gfdm.density_from_fixations(points, shape, sigma, weights)


def test_sigma_from_visual_angle_worked_by_hand():
    assert gfdm.sigma_from_ppd(35.0) == 35.0
    assert gfdm.sigma_from_ppd(35.0, degrees=0.5) == 17.5
    # 57.3 cm away, 1 degree spans 2 * 57.3 * tan(0.5 deg) = 114.6 * 0.0087269 = 1.000099 cm
    assert gfdm.pixels_per_degree(1024, 40.0, 57.3) == pytest.approx(25.6 * 1.000099, rel=1e-6)
    with pytest.raises(MapShapeError):
        gfdm.sigma_from_ppd(0.0)


def test_fixation_map_round_trip():
    points = np.array([[0.0, 0.0], [4.4, 2.6], [4.0, 3.0]])
    fixated = gfdm.fixation_map(points, (5, 6))
    assert fixated.sum() == 2 and fixated[0, 0] and fixated[3, 4]
    np.testing.assert_array_equal(gfdm.points_from_fixation_map(fixated), [[0.0, 0.0], [4.0, 3.0]])


def test_real_i210_points_reproduce_the_published_density(mit1003_dir):
    folder = mit1003_dir / "fixation_points"
    fixated = loadmat(folder / "i210_fixation_locations.mat")["fixations"]
    published = np.asarray(Image.open(folder / "i210_fixation_map.jpg").convert("L"), dtype=np.float64)
    points = gfdm.points_from_fixation_map(fixated)
    assert points.shape == (259, 2)
    fits = {sigma: pcc(gfdm.density_from_fixations(points, fixated.shape, sigma), published)
            for sigma in (15, 20, 25, 30, 35)}
    # the published map is the same sum of Gaussians, at about 25 px (roughly 1 degree in MIT1003)
    assert max(fits, key=fits.get) == 25
    assert fits[25] > 0.999
