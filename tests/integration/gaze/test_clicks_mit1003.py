"""Clicks against eye tracking on MIT1003's i210 (259 real fixations, 1024x675): "clicks" simulated by a
30% subsample of the fixations, clicked by 15 participants of a study, against the GFDM of all of them
(imported as a fixation table) and against MIT's own map. Sigma 25 px: the GFDM of all fixations at 25 px
matches MIT's map with PCC 0.9996."""

import numpy as np
import pandas as pd
import pytest
import scipy.io
from django.core.files.base import ContentFile

from study.archives import folder_entries
from study.gaze.clicks import clicks_dataset
from study.gaze.compare import compare_datasets
from study.gaze.importer import import_gaze, import_gaze_path
from study.gaze.options import ImportOptions
from analysis.gfdm import points_from_fixation_map
from study.models.study import CONTROL
from tests.factories import make_study
from tests.integration.gaze.helpers import answer_clicks, write_tree

pytestmark = pytest.mark.django_db
SIGMA = 25.0
OBSERVERS = 15


def test_clicks_from_a_subsample_of_real_fixations_match_all_fixations(mit1003_dir, tmp_path, isolated_media):
    folder = mit1003_dir / "fixation_points"
    stimulus = (folder / "i210.jpg").read_bytes()
    fixated = scipy.io.loadmat(folder / "i210_fixation_locations.mat")["fixations"]
    points = points_from_fixation_map(fixated)  # (259, 2) as (x, y)
    height, width = fixated.shape

    table = pd.DataFrame({"image": "i210.jpg", "x": points[:, 0], "y": points[:, 1]})
    files = {"stimuli/i210.jpg": stimulus, "fixations.csv": table.to_csv(index=False).encode()}
    everyone = import_gaze_path("mit-all", write_tree(tmp_path / "all", files), ImportOptions(sigma_px=SIGMA))
    mit = import_gaze("mit-map", {p: read for p, read in folder_entries(mit1003_dir).items()
                                  if "i210" in p or "i1000274881" in p})  # a stimuli/ folder is needed

    study = make_study("mit-clicks", design="attention", techniques=(CONTROL,), n_correct=1, n_incorrect=0)
    item = study.items.get()
    item.name = "i210.jpg"
    item.image.save("i210.jpg", ContentFile(stimulus))
    rng = np.random.default_rng(0)
    chosen = points[rng.choice(len(points), round(0.3 * len(points)), replace=False)]  # 78 fixations
    for observer in range(OBSERVERS):
        mine = chosen[observer::OBSERVERS]
        answer_clicks(study, {0: [[x, y, 100.0 * i] for i, (x, y) in enumerate(mine)]}, size=(width, height))
    clicks = clicks_dataset(study, options=ImportOptions(sigma_px=SIGMA))
    assert clicks.stimuli.get().fixations.count == 78 and clicks.n_observers == OBSERVERS

    scores, summary = compare_datasets(clicks, everyone, tmp_path / "out")
    print("\nclicks (30%) vs all fixations\n", scores.round(4).to_string(), "\n", summary.to_string())
    row = scores.iloc[0]
    assert (row["image"], scores.shape[0]) == ("i210", 1)
    assert row["pcc"] > 0.95 and row["sim"] > 0.8  # measured: PCC 0.979, SIM 0.852
    assert summary.columns.tolist() == ["Method", "PCC", "SIM", "KLD", "EMD", "n"]
    on_mit, _ = compare_datasets(clicks, mit)
    print("clicks (30%) vs MIT's map\n", on_mit.round(4).to_string())
    assert on_mit["pcc"].item() > 0.95
    itself, _ = compare_datasets(everyone, everyone)
    np.testing.assert_allclose(itself[["pcc", "sim"]].to_numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(itself[["kld", "emd"]].to_numpy(), 0.0, atol=1e-6)
    assert pd.read_csv(tmp_path / "out" / "compare_per_image.csv")["pcc"].item() == pytest.approx(row["pcc"])
