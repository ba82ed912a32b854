"""gaze_report on real data: EfficientNet-Lite0, four methods, a few MIT1003 stimuli (one with fixations)."""

import io

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image
from scipy import stats

import explainers
from study.models import GazeDataset, GazeStimulus
from study.services.gaze_import import folder_entries, import_gaze
from study.services.gaze_report import GazeReportError, parse_methods

pytestmark = pytest.mark.django_db
SUBSET = ("i05june05_static_street_boston_p1010764", "i1000274881", "i210")


@pytest.fixture
def subset(mit1003_dir):
    entries = {
        path: read for path, read in folder_entries(mit1003_dir).items() if any(s in path for s in SUBSET)
    }
    return import_gaze("mit-subset", entries)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment, worked directly."""
    order = np.argsort(pvalues)
    adjusted = np.maximum.accumulate(pvalues[order] * (len(pvalues) - np.arange(len(pvalues))))
    out = np.empty_like(pvalues)
    out[order] = np.minimum(adjusted, 1)
    return out


@pytest.mark.slow
def test_report_table_scores_and_figure_page(subset, tmp_path, client, django_user_model, settings):
    settings.SECURE_SSL_REDIRECT = False
    out = tmp_path / "report"
    stdout = io.StringIO()
    call_command(
        "gaze_report",
        "mit-subset",
        "--model",
        "efficientnet-lite0",
        "--methods",
        "gradcam,gradcampp,fem,gradient",
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--verbosity",
        "0",
        stdout=stdout,
    )
    assert "| Method | PCC | SIM | KLD | NSS | AUC_JUDD | n |" in stdout.getvalue()

    table = pd.read_csv(out / "gaze_table.csv")
    assert table["method"].tolist() == ["gradcam", "gradcam++", "fem", "gradient"]
    assert table["pcc_n"].tolist() == [3] * 4 and table["nss_n"].tolist() == [1] * 4
    per_image = pd.read_csv(out / "per_image.csv")
    assert len(per_image) == 12 and per_image[["pcc", "sim", "kld"]].notna().all().all()
    # NSS and AUC only where fixations exist (i210).
    assert per_image.loc[per_image["nss"].notna(), "image"].unique().tolist() == ["i210"]
    assert per_image["auc_judd"].dropna().between(0, 1).all()
    gradcam = per_image[per_image["method"] == "gradcam"]
    assert table.loc[0, "pcc_mean"] == pytest.approx(
        gradcam["pcc"].mean(), rel=1e-4
    )  # per_image.csv: 6 digits
    assert table.loc[0, "pcc_sd"] == pytest.approx(gradcam["pcc"].std(), rel=1e-4)

    # Independent check of one score: Grad-CAM of the top-1 class, bilinear-resized with PIL, PCC with numpy.
    model = explainers.load_model("efficientnet-lite0")
    row = GazeStimulus.objects.get(name="i1000274881")
    image = Image.open(row.image.path).convert("RGB")
    inputs = model.preprocess([image])
    target = explainers.predict(model, inputs).argmax(1)
    assert gradcam.set_index("image").loc["i1000274881", "target"] == model.class_names[int(target)]
    cam = explainers.explain(model, inputs, target, "gradcam")[0].numpy()
    resized = np.asarray(Image.fromarray(cam, mode="F").resize((row.width, row.height), Image.BILINEAR))
    density = np.load(row.gaze_map.array.path)
    expected = np.corrcoef(resized.ravel(), density.ravel())[0, 1]
    assert gradcam.set_index("image").loc["i1000274881", "pcc"] == pytest.approx(expected, abs=2e-3)

    tests = pd.read_csv(out / "paired_tests.csv")
    pcc = tests[tests["metric"] == "pcc"]
    assert len(pcc) == 6  # every pair of 4 methods
    wide = per_image.pivot(index="image", columns="method", values="pcc")
    first = pcc.iloc[0]
    assert first["pvalue"] == pytest.approx(
        stats.wilcoxon(wide[first["method_a"]], wide[first["method_b"]]).pvalue, rel=1e-5
    )
    np.testing.assert_allclose(pcc["pvalue_holm"], holm(pcc["pvalue"].to_numpy()), rtol=1e-5)
    assert "mean ± SD" in (out / "gaze_table.md").read_text()

    # The researcher page of one stimulus shows the image, the GFDM and each method's map with scores.
    client.force_login(django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True,
        is_superuser=True))
    page = client.get(reverse("gaze-stimulus", args=["mit-subset", "i210"])).content.decode()
    for method in ("gradcam", "gradcam++", "fem", "gradient"):
        url = reverse("gaze-stimulus-map", args=["mit-subset", "i210", method])
        assert url in page
        response = client.get(url)
        assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (512, 338)
    nss = per_image[(per_image["image"] == "i210") & (per_image["method"] == "fem")]["nss"].item()
    assert f"<dt>nss</dt><dd>{nss:.3f}</dd>" in page
    assert "gradcam++" in client.get(reverse("gaze-dataset", args=["mit-subset"])).content.decode()


def test_bad_report_requests_are_refused(subset, tmp_path):
    with pytest.raises(GazeReportError, match="methods must be distinct names"):
        parse_methods("gradcam,nonsense")
    with pytest.raises(GazeReportError, match="methods must be distinct names"):
        parse_methods("gradcam,gradcam")
    assert parse_methods("gradcam, gradcampp ,fem,gradient") == ["gradcam", "gradcam++", "fem", "gradient"]
    with pytest.raises(CommandError, match="No gaze data set named 'nope'"):
        call_command(
            "gaze_report",
            "nope",
            "--model",
            "efficientnet-lite0",
            "--methods",
            "gradcam",
            "--out",
            str(tmp_path),
        )
    with pytest.raises(CommandError, match="neither 'efficientnet-lite0' nor an existing JSON file"):
        call_command(
            "gaze_report",
            "mit-subset",
            "--model",
            "missing.json",
            "--methods",
            "gradcam",
            "--out",
            str(tmp_path),
        )
    assert GazeDataset.objects.get(name="mit-subset").last_report == {}
