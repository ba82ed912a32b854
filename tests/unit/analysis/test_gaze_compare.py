"""Two sets of GFDMs compared per image: scores checked against scipy and hand formulas, and on MIT1003
maps, GFDMs of a 30% subsample of simulated fixations against those of all of them."""

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from analysis.errors import AnalysisError
from analysis.gaze_compare import compare_gfdms, comparison_table
from analysis.gfdm import density_from_fixations

EPS = np.finfo(np.float64).eps


def test_scores_match_scipy_and_the_mit_formulas():
    rng = np.random.default_rng(1)
    first = {name: rng.random((12, 16)) for name in ("a", "b", "only-first")}
    reference = {name: rng.random((12, 16)) for name in ("a", "b", "only-reference")}
    scores = compare_gfdms(first, reference, metrics=("pcc", "sim", "kld"), label="x vs y")
    assert scores["image"].tolist() == ["a", "b"] and set(scores["method"]) == {"x vs y"}
    for _, row in scores.iterrows():
        p, q = first[row["image"]], reference[row["image"]]
        p, q = p / p.sum(), q / q.sum()
        assert row["pcc"] == pytest.approx(stats.pearsonr(p.ravel(), q.ravel())[0], abs=1e-6)
        low_p, low_q = p - p.min(), q - q.min()  # MIT's SIM: min-max normalised, then summing to 1
        sim = np.minimum(low_p / low_p.sum(), low_q / low_q.sum()).sum()
        assert row["sim"] == pytest.approx(sim, abs=1e-6)
        assert row["kld"] == pytest.approx((q * np.log(EPS + q / (p + EPS))).sum(), abs=1e-6)
    table = comparison_table(scores, ("pcc", "sim", "kld"))
    mean, sd = scores["pcc"].mean(), scores["pcc"].std(ddof=1)
    assert table.loc[0, "PCC"] == f"{mean:.4f} ± {sd:.3f} (n=2)" and table.loc[0, "n"] == 2


def test_refuses_fixation_metrics_and_sets_without_a_shared_image():
    one = {"a": np.ones((4, 4))}
    with pytest.raises(AnalysisError, match="density metrics only"):
        compare_gfdms(one, one, metrics=("pcc", "nss"))
    with pytest.raises(AnalysisError, match="share no image"):
        compare_gfdms(one, {"b": np.ones((4, 4))})


def test_a_subsample_of_fixations_on_mit1003_images_keeps_their_gfdm(mit1003_dir):
    """Per image, 250 "fixations" drawn from MIT's map (only i210 has real ones, see the integration test);
    the GFDM (sigma 25 px) of 30% of them against that of all of them, and all of them against themselves."""
    rng = np.random.default_rng(0)
    full, part = {}, {}
    for path in sorted((mit1003_dir / "fixation_maps").glob("*.jpg"))[:12]:
        density = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
        flat = rng.choice(density.size, 250, p=(density / density.sum()).ravel())
        points = np.column_stack([flat % density.shape[1], flat // density.shape[1]]).astype(float)
        full[path.stem] = density_from_fixations(points, density.shape, 25.0)
        part[path.stem] = density_from_fixations(points[:75], density.shape, 25.0)  # draws are i.i.d.
    scores = compare_gfdms(part, full, label="30% vs all")
    print("\n", comparison_table(scores).to_string())
    assert len(scores) == 12 and scores["pcc"].mean() > 0.9 and scores["pcc"].min() > 0.8
    itself = compare_gfdms(full, full)
    np.testing.assert_allclose(itself[["pcc", "sim"]].to_numpy(), 1.0, rtol=1e-6)
