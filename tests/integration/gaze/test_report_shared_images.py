"""Two gaze data sets holding the same MIT1003 images: the maps cached for one serve the other's report
(the cache is keyed by the image's content, not the path it was first computed from)."""

import pandas as pd
import pytest

from explainers.cache import MapCache
from study.models import GazeDataset
from study.archives import folder_entries
from study.gaze.importer import import_gaze
from study.gaze.report import gaze_report

pytestmark = pytest.mark.django_db
FIRST = ("i1000274881", "i05june05_static_street_boston_p1010764")
SHARED = ("i1000274881",)


def _import(name: str, root, stems) -> GazeDataset:
    return import_gaze(name, {path: read for path, read in folder_entries(root).items()
                              if any(stem in path for stem in stems)})


@pytest.mark.slow
def test_a_second_data_set_of_the_same_images_reports_from_the_first_ones_maps(
    mit1003_dir, tmp_path, isolated_media, settings
):
    first = _import("mit-first", mit1003_dir, FIRST)
    second = _import("mit-second", mit1003_dir, SHARED)
    own = {row.name: row.image.path for row in first.stimuli.all()}
    # each data set stores its own copy of the image
    assert own["i1000274881"] != second.stimuli.get(name="i1000274881").image.path

    done = gaze_report(first, "efficientnet-lite0", ["gradcam"], tmp_path / "first", batch_size=2)
    stored = len(MapCache(settings.EXPLAINER_CACHE_DIR))
    # Every map the second data set needs is cached, under the first data set's path.
    cached = gaze_report(second, "efficientnet-lite0", ["gradcam"], tmp_path / "cached")
    assert len(MapCache(settings.EXPLAINER_CACHE_DIR)) == stored
    # Grad-CAM is cached (under the first data set's path), gradient is new: both kinds on one image.
    again = gaze_report(second, "efficientnet-lite0", ["gradcam", "gradient"], tmp_path / "second")
    assert len(MapCache(settings.EXPLAINER_CACHE_DIR)) == stored + 1  # only the new gradient map
    # And back: the first data set now finds the gradient map the second one computed.
    both = gaze_report(first, "efficientnet-lite0", ["gradient", "gradcam"], tmp_path / "both")
    assert len(MapCache(settings.EXPLAINER_CACHE_DIR)) == stored + 2  # only the other image's gradient

    def scores(result, method):
        frame = result.scores
        return frame[(frame["image"] == "i1000274881") & (frame["method"] == method)].reset_index(drop=True)

    for method in ("gradcam", "gradient"):
        pd.testing.assert_frame_equal(scores(again, method), scores(both, method))
    pd.testing.assert_frame_equal(scores(done, "gradcam"), scores(again, "gradcam"))
    pd.testing.assert_frame_equal(scores(done, "gradcam"), scores(cached, "gradcam"))
    assert set(again.scores["image"]) == {"i1000274881"} and set(both.scores["image"]) == set(FIRST)
    assert GazeDataset.objects.get(name="mit-second").last_report["methods"] == ["gradcam", "gradient"]
