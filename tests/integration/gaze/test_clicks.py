"""A study's clicks as a gaze data set: the GFDMs equal those of the same points imported as a fixation
table, an independent Gaussian sum, and only completed, non-preview participants count."""

import io

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from analysis.saliency import centre_bias
from study.gaze.clicks import clicks_dataset
from study.gaze.importer import GazeImportError, import_gaze_path
from study.gaze.options import ImportOptions
from study.gaze.report import gaze_report
from study.models import Participant, Study
from tests.factories import make_study
from tests.integration.gaze.helpers import answer_clicks, write_tree

pytestmark = pytest.mark.django_db
SIGMA = 3.0
# Two participants' clicks (x, y, t_ms) on items 0 and 1 of 32x32 images.
CLICKS = {
    "a": {0: [[4.0, 5.0, 300.0], [20.25, 9.75, 900.0]], 1: [[31.4, 0.0, 120.0]]},
    "b": {0: [[16.0, 16.0, 450.0]], 1: [[7.5, 30.5, 80.0], [12.0, 12.0, 1500.0]]},
}


@pytest.fixture
def study():
    study = make_study("bubbles", n_correct=2, n_incorrect=1)
    Study.objects.filter(pk=study.pk).update(design="attention")
    study.refresh_from_db()
    return study


def gaussian_sum(points: list, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Independent reference: the normalised sum of exp(-d^2 / 2 sigma^2) at the rounded points."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    total = sum(np.exp(-((cols - round(x)) ** 2 + (rows - round(y)) ** 2) / (2 * sigma**2))
                for x, y, _ in points)
    return total / total.sum()


def test_clicks_make_the_gfdm_of_the_same_points_imported_as_a_fixation_table(
    study, tmp_path, isolated_media
):
    observers = {key: answer_clicks(study, clicks) for key, clicks in CLICKS.items()}
    answer_clicks(study, {2: [[1.0, 1.0, 10.0]]}, is_preview=True)  # a preview counts nowhere
    answer_clicks(study, {2: [[2.0, 2.0, 10.0]]}, status=Participant.Status.ACTIVE)  # nor an unfinished one
    dataset = clicks_dataset(study, options=ImportOptions(sigma_px=SIGMA))

    assert (dataset.name, dataset.source_format, dataset.n_observers, dataset.sigma_px) == (
        "bubbles-clicks", "clicks", 2, SIGMA)
    assert dataset.provenance["study"] == "bubbles"
    assert sorted(dataset.stimuli.values_list("name", flat=True)) == ["img000", "img001"]  # item 2: no clicks

    # The same points through the normal import path: the items' images and a fixation CSV.
    files, rows = {}, []
    for position in (0, 1):
        item = study.items.get(position=position)
        files[f"stimuli/img{position:03d}.png"] = item.image.read()
        rows += [(f"img{position:03d}.png", x, y)
                 for key in CLICKS for x, y, _ in CLICKS[key].get(position, [])]
    files["fixations.csv"] = pd.DataFrame(rows, columns=["image", "x", "y"]).to_csv(index=False).encode()
    imported = import_gaze_path("table", write_tree(tmp_path / "table", files), ImportOptions(sigma_px=SIGMA))

    for position in (0, 1):
        stem = f"img{position:03d}"
        clicked = np.load(dataset.stimuli.get(name=stem).gaze_map.array.path)
        table = np.load(imported.stimuli.get(name=stem).gaze_map.array.path)
        np.testing.assert_array_equal(clicked, table)
        points = [p for key in CLICKS for p in CLICKS[key].get(position, [])]
        np.testing.assert_allclose(clicked, gaussian_sum(points, (32, 32), SIGMA), rtol=1e-5, atol=1e-9)
        stored = np.load(dataset.stimuli.get(name=stem).fixations.array.path)
        expected = [(x, y, t, str(observers[key].pk))
                    for key in CLICKS for x, y, t in CLICKS[key].get(position, [])]
        assert list(zip(stored["x"], stored["y"], stored["start_time"], stored["observer"])) == expected
        assert np.isnan(stored["duration"]).all()


def test_clicks_are_rescaled_from_the_trials_size_to_the_image(study, isolated_media):
    answer_clicks(study, {0: [[8.0, 40.0, 5.0], [63.8, 0.0, 9.0]]}, size=(64, 64))  # the image shown at 64x64
    dataset = clicks_dataset(study, options=ImportOptions(sigma_px=SIGMA))
    stored = np.load(dataset.stimuli.get().fixations.array.path)
    np.testing.assert_array_equal(stored["x"], [4.0, 31.0])  # 63.8 / 2 = 31.9: kept on the last pixel
    np.testing.assert_array_equal(stored["y"], [20.0, 0.0])


def test_a_study_without_clicks_is_refused_and_nothing_is_stored(study, isolated_media):
    answer_clicks(study, {0: []})
    answer_clicks(study, {1: [[3.0, 3.0, 1.0]]}, is_preview=True)
    with pytest.raises(GazeImportError, match="no clicks of completed participants"):
        clicks_dataset(study, options=ImportOptions(sigma_px=SIGMA))
    with pytest.raises(CommandError, match="no clicks"):
        call_command("clicks_to_gaze", "bubbles", "--sigma-px", "3", stdout=io.StringIO())


def test_clicks_without_a_sigma_are_refused(study, isolated_media):
    answer_clicks(study, CLICKS["a"])
    with pytest.raises(GazeImportError, match="needs a sigma"):
        clicks_dataset(study)


def test_command_imports_and_compares_with_itself(study, tmp_path, isolated_media):
    answer_clicks(study, CLICKS["a"])
    answer_clicks(study, CLICKS["b"])
    out = io.StringIO()
    call_command("clicks_to_gaze", "bubbles", "--sigma-px", "3", "--name", "first", stdout=out)
    assert "Imported first: 2 stimuli, 2 participants." in out.getvalue()
    call_command("clicks_to_gaze", "bubbles", "--sigma-px", "3", "--compare", "first", "--out",
                 str(tmp_path / "cmp"), stdout=out)
    per_image = pd.read_csv(tmp_path / "cmp" / "compare_per_image.csv")
    assert per_image["image"].tolist() == ["img000", "img001"]
    np.testing.assert_allclose(per_image[["pcc", "sim"]], 1.0, rtol=1e-6)
    np.testing.assert_allclose(per_image[["kld", "emd"]], 0.0, atol=1e-5)
    assert "bubbles-clicks vs first" in (tmp_path / "cmp" / "compare_table.md").read_text()


@pytest.mark.slow
def test_gaze_report_runs_unchanged_on_a_clicks_data_set(study, tmp_path, isolated_media):
    answer_clicks(study, CLICKS["a"])
    answer_clicks(study, CLICKS["b"])
    dataset = clicks_dataset(study, options=ImportOptions(sigma_px=SIGMA))
    report = gaze_report(dataset, "efficientnet-lite0", ["gradcam"], tmp_path / "report", batch_size=2)

    table = pd.read_csv(tmp_path / "report" / "gaze_table.csv")
    # two observers with clicks on both images: the leave-one-out ceiling row as for eye tracking
    assert table["method"].tolist() == ["gradcam", "centre bias", "inter-observer (leave one out)"]
    assert table["pcc_n"].tolist() == [2, 2, 2] and table["nss_n"].tolist() == [2, 2, 2]
    per_image = pd.read_csv(tmp_path / "report" / "per_image.csv")
    assert sorted(per_image.loc[per_image["method"] == "gradcam", "image"]) == ["img000", "img001"]
    assert {p.name for p in report.files} >= {"gaze_table.csv", "per_image.csv", "report.html"}
    # the centre bias' PCC, recomputed with numpy on the stored GFDM
    row = dataset.stimuli.get(name="img000")
    density = np.load(row.gaze_map.array.path)
    expected = np.corrcoef(centre_bias((32, 32)).ravel(), density.ravel())[0, 1]
    bias = per_image[(per_image["method"] == "centre bias") & (per_image["image"] == "img000")]
    assert bias["pcc"].item() == pytest.approx(expected, abs=1e-5)
    assert dataset.last_report["methods"] == ["gradcam"]
