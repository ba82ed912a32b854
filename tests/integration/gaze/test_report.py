"""gaze_report on real data: EfficientNet-Lite0, four methods, a few MIT1003 stimuli (one with fixations)."""

import io

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from PIL import Image

import explainers
from analysis.baselines import INTER_OBSERVER, inter_observer_scores
from analysis.saliency import shuffled_fixations
from study.jobs import JobCancelled
from study.models import GazeDataset, GazeStimulus
from study.archives import folder_entries
from study.gaze.importer import import_gaze, import_gaze_path
from study.gaze.options import ImportOptions
from study.gaze.report import GazeReportError, parse_methods
from tests.integration.gaze.helpers import stimulus_png, write_tree

pytestmark = pytest.mark.django_db
SUBSET = ("i05june05_static_street_boston_p1010764", "i1000274881", "i210")


@pytest.fixture
def subset(mit1003_dir):
    entries = {
        path: read for path, read in folder_entries(mit1003_dir).items() if any(s in path for s in SUBSET)
    }
    return import_gaze("mit-subset", entries)


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
    assert "| Method | PCC | SIM | KLD | EMD | NSS | AUC_JUDD | SAUC | IG | n |" in stdout.getvalue()

    table = pd.read_csv(out / "gaze_table.csv")
    # the methods, then the centre-bias baseline (no observer ids in MIT1003's sample: no ceiling row)
    assert table["method"].tolist() == ["gradcam", "gradcam++", "fem", "gradient", "centre bias"]
    assert table["pcc_n"].tolist() == [3] * 5 and table["emd_n"].tolist() == [3] * 5
    assert table["nss_n"].tolist() == [1] * 5 and table["ig_n"].tolist() == [1] * 5
    assert table["sauc_n"].tolist() == [0] * 5  # one stimulus with fixations: no other image's fixations
    per_image = pd.read_csv(out / "per_image.csv")
    assert len(per_image) == 15 and per_image[["pcc", "sim", "kld", "emd"]].notna().all().all()
    assert per_image.loc[per_image["method"] == "centre bias", "ig"].dropna().tolist() == [0.0]
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
    assert len(pcc) == 6  # every pair of 4 methods; the baseline takes no part
    # three images: below the six a signed-rank test needs, so nothing is tested
    assert pcc["pvalue"].isna().all() and pcc["note"].str.contains("fewer than 6").all()
    assert "mean ± SD" in (out / "gaze_table.md").read_text()
    assert {"report.html", "figure_boxes.png", "figure_ranking.png", "figure_panel.png"} <= {
        p.name for p in out.iterdir()}

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
    assert "centre bias" in client.get(reverse("gaze-dataset", args=["mit-subset"])).content.decode()
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


@pytest.mark.slow
def test_observers_give_a_ceiling_row_and_other_stimuli_the_sauc_negatives(tmp_path, isolated_media):
    """Two small stimuli with fixations by three observers each: every metric on both, the centre bias
    and the leave-one-observer-out ceiling as baseline rows, the ceiling's scores as analysis computes them."""
    rng = np.random.default_rng(0)
    lines = ["image,x,y,observer"]
    for stimulus in ("s0", "s1"):  # everyone looks near two off-centre spots
        for observer in ("ann", "bob", "cat"):
            spots = np.array([[6, 6], [41, 29]] * 2) + rng.integers(-2, 3, (4, 2))
            lines += [f"{stimulus}.png,{x},{y},{observer}" for x, y in spots]
    files = {f"stimuli/s{i}.png": stimulus_png(48, 36, seed=i) for i in range(2)}
    files["fixations.csv"] = "\n".join(lines).encode()
    import_gaze_path("observed", write_tree(tmp_path / "src", files), ImportOptions(sigma_px=3.0))
    out = tmp_path / "report"
    call_command("gaze_report", "observed", "--model", "efficientnet-lite0", "--methods", "gradcam",
                 "--out", str(out), "--verbosity", "0")
    table = pd.read_csv(out / "gaze_table.csv").set_index("method")
    assert table.index.tolist() == ["gradcam", "centre bias", INTER_OBSERVER]
    for metric in ("pcc", "sim", "kld", "emd", "nss", "auc_judd", "sauc", "ig"):
        assert table[f"{metric}_n"].tolist() == [2, 2, 2], metric
    per_image = pd.read_csv(out / "per_image.csv").set_index(["method", "image"])
    stored = np.load(GazeStimulus.objects.get(name="s0").fixations.array.path)
    other = np.load(GazeStimulus.objects.get(name="s1").fixations.array.path)
    points = np.column_stack([stored["x"], stored["y"]])
    others = shuffled_fixations([(np.column_stack([other["x"], other["y"]]), (36, 48))], (36, 48))
    expected = inter_observer_scores(points, stored["observer"], (36, 48), 3.0, ["pcc", "nss", "sauc"], others)
    for metric, value in expected.items():
        assert per_image.loc[(INTER_OBSERVER, "s0"), metric] == pytest.approx(value, rel=1e-4)
    # observers who agree predict each other better than the centre does
    assert table.loc[INTER_OBSERVER, "nss_mean"] > table.loc["centre bias", "nss_mean"]


def test_report_hears_each_batch_and_stimulus_and_stopping_in_it_keeps_the_last_report(
    tmp_path, isolated_media
):
    from study.gaze.report import gaze_report
    from tests.integration.gaze.helpers import good_files, media_files

    dataset = import_gaze_path("three", write_tree(tmp_path / "src", good_files(3)))
    heard = []
    gaze_report(dataset, "efficientnet-lite0", ["gradcam"], tmp_path / "first", batch_size=2,
                report=lambda *call: heard.append(call))
    # each stage named as it starts, and counted to the end
    assert heard == [(0, 3, "explaining the stimuli"), (2, 3, "explaining the stimuli"),
                     (3, 3, "explaining the stimuli"),
                     *[(i, 3, "scoring the maps against the GFDMs") for i in range(4)],
                     (3, 3, "writing the tables, figures and report.html")]
    dataset.refresh_from_db()
    last, files = dataset.last_report, media_files(isolated_media)

    def stop(done, total, message):
        if message.startswith("scoring") and done == 2:
            raise JobCancelled

    with pytest.raises(JobCancelled):
        gaze_report(dataset, "efficientnet-lite0", ["gradcam", "gradient"], tmp_path / "second", report=stop)
    dataset.refresh_from_db()
    assert dataset.last_report == last and media_files(isolated_media) == files
    assert not (tmp_path / "second").exists()
