"""Baseline rows: the centre bias scored like a map, the leave-one-observer-out ceiling by hand."""
import numpy as np
import pytest

from analysis import baselines, saliency
from analysis.errors import AnalysisError
from analysis.gfdm import density_from_fixations, fixation_map

SHAPE = (24, 32)


def test_centre_bias_scores_like_a_map_and_gains_nothing_over_itself():
    rng = np.random.default_rng(0)
    density = rng.random(SHAPE)
    fixated = rng.random(SHAPE) < 0.05
    scores = baselines.centre_bias_scores(SHAPE, ["pcc", "nss", "ig"], density, fixated)
    bias = saliency.centre_bias(SHAPE)
    assert scores["pcc"] == pytest.approx(saliency.pcc(bias, density), rel=1e-9)
    assert scores["nss"] == pytest.approx(saliency.nss(bias, fixated), rel=1e-9)
    assert scores["ig"] == 0.0


def test_inter_observer_ceiling_by_hand():
    rng = np.random.default_rng(1)
    points = rng.uniform([0, 0], [31, 23], (30, 2))
    observers = np.repeat(["a", "b", "c"], 10)
    scores = baselines.inter_observer_scores(points, observers, SHAPE, 3.0, ["pcc", "nss", "ig"])
    expected = []
    for held_out in "abc":
        mine = observers == held_out
        others = density_from_fixations(points[~mine], SHAPE, 3.0)
        expected.append([
            saliency.pcc(others, density_from_fixations(points[mine], SHAPE, 3.0)),
            saliency.nss(others, fixation_map(points[mine], SHAPE)),
            saliency.information_gain(others, fixation_map(points[mine], SHAPE), saliency.centre_bias(SHAPE)),
        ])
    np.testing.assert_allclose([scores["pcc"], scores["nss"], scores["ig"]], np.mean(expected, axis=0), rtol=1e-6)


def test_observers_who_agree_make_a_perfect_ceiling():
    points = np.array([[5.0, 5.0], [20.0, 12.0]] * 2)
    scores = baselines.inter_observer_scores(points, np.array(["a", "a", "b", "b"]), SHAPE, 2.0, ["pcc", "kld"])
    assert scores["pcc"] == pytest.approx(1.0, abs=1e-6) and scores["kld"] == pytest.approx(0.0, abs=1e-5)


def test_one_observer_has_no_ceiling():
    with pytest.raises(AnalysisError, match="two observers"):
        baselines.inter_observer_scores(np.ones((3, 2)), np.array(["a", "a", ""]), SHAPE, 2.0, ["pcc"])
