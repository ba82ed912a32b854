"""The gaze report on real MIT1003 data: baseline rows, each metric's own n, paired tests only where
enough images were scored, and report.html opened in Chromium with every figure loaded."""

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from scipy import stats

from study.archives import folder_entries
from study.gaze.importer import import_gaze

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db]
N_MAPS_ONLY = 6  # stimuli with only a GFDM, beside i210, the one with fixation points


@pytest.fixture
def sample(mit1003_dir):
    names = sorted(p.stem for p in (mit1003_dir / "stimuli").glob("*.jpg") if p.stem != "i210")[:N_MAPS_ONLY]
    entries = {path: read for path, read in folder_entries(mit1003_dir).items()
               if any(name in path for name in [*names, "i210"])}
    import_gaze("mit-report", entries)
    return [*names, "i210"]


def test_report_on_real_data_has_baselines_counts_and_renders(sample, tmp_path, page):
    out = tmp_path / "report"
    call_command("gaze_report", "mit-report", "--model", "efficientnet-lite0", "--methods", "gradcam,gradient",
                 "--out", str(out), "--batch-size", "4", "--verbosity", "0")

    table = pd.read_csv(out / "gaze_table.csv").set_index("method")
    assert table.index.tolist() == ["gradcam", "gradient", "centre bias"]
    n = len(sample)  # 7 stimuli with a GFDM, 1 of them (i210) with fixation points
    for metric in ("pcc", "sim", "kld", "emd"):
        assert table[f"{metric}_n"].tolist() == [n] * 3
    for metric in ("nss", "auc_judd", "ig"):
        assert table[f"{metric}_n"].tolist() == [1] * 3
    assert table["sauc_n"].tolist() == [0] * 3
    # the centre bias beats chance on real gaze, and its IG over itself is 0
    assert table.loc["centre bias", "pcc_mean"] > 0.2 and table.loc["centre bias", "auc_judd_mean"] > 0.7
    assert table.loc["centre bias", "ig_mean"] == 0.0
    markdown = (out / "gaze_table.md").read_text()
    assert f"(n={n})" in markdown and "(n=1)" in markdown and "n/a (n=0)" in markdown

    per_image = pd.read_csv(out / "per_image.csv")
    tests = pd.read_csv(out / "paired_tests.csv").set_index("metric")
    # 7 images scored by both methods on the density metrics: tested (a family of one, Holm = p)
    wide = per_image.pivot(index="image", columns="method", values="pcc")
    assert tests.loc["pcc", "n"] == n
    assert tests.loc["pcc", "pvalue"] == pytest.approx(stats.wilcoxon(wide["gradcam"], wide["gradient"]).pvalue,
                                                       rel=1e-4)  # per_image.csv keeps 6 digits
    assert tests.loc["pcc", "pvalue_holm"] == tests.loc["pcc", "pvalue"]
    # one image with fixations: nothing to test, and the table says why
    assert np.isnan(tests.loc["nss", "pvalue"]) and "fewer than 6" in tests.loc["nss", "note"]

    page.goto((out / "report.html").as_uri())
    images = page.locator("img")
    assert images.count() == 3  # panel, boxes, ranking
    for i in range(images.count()):
        loaded = images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalHeight > 0")
        assert loaded, images.nth(i).get_attribute("alt")
    assert page.locator("table").count() == 2  # the metric table and the paired tests
    text = page.locator("body").inner_text()
    assert "centre bias" in text and f"(n={n})" in text and "sAUC needs fixations on at least two stimuli" in text
