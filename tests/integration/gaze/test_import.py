"""Good imports: the real MIT1003 sample through the command, and each supported map and table format."""

import hashlib
import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from analysis.gfdm import density_from_fixations
from study.jobs import JobCancelled
from study.models import GazeDataset, GazeFixations, GazeMap, GazeStimulus
from study.archives import zip_entries
from study.gaze.importer import GazeImportError, import_gaze, import_gaze_path
from study.gaze.options import ImportOptions
from tests.integration.gaze.helpers import (
    good_files,
    image_bytes,
    map_png,
    media_files,
    npy_bytes,
    stimulus_png,
    write_tree,
    zip_bytes,
)

pytestmark = pytest.mark.django_db


def load(field) -> np.ndarray:
    with field.open("rb") as f:
        return np.load(io.BytesIO(f.read()), allow_pickle=False)


def test_mit1003_sample_imports_through_the_command(mit1003_dir, isolated_media):
    out = io.StringIO()
    call_command(
        "import_gaze",
        "mit1003",
        str(mit1003_dir),
        "--observers",
        "15",
        "--ppd",
        "35",
        "--task",
        "free viewing, 3 s",
        "--verbosity",
        "0",
        stdout=out,
    )
    assert "Imported mit1003: 71 stimuli" in out.getvalue()

    dataset = GazeDataset.objects.get(name="mit1003")
    assert (dataset.n_observers, dataset.pixels_per_degree, dataset.source_format) == (
        15,
        35.0,
        "maps+fixations",
    )
    # 70 stimuli/ plus i210 from fixation_points/, each with its map; i210 also has its fixations.
    assert GazeStimulus.objects.count() == GazeMap.objects.count() == 71
    fixations = GazeFixations.objects.get()
    assert (fixations.stimulus.name, fixations.count) == ("i210", 259)

    name = "i05june05_static_street_boston_p1010764"
    source = mit1003_dir / "fixation_maps" / f"{name}.jpg"
    gaze_map = GazeMap.objects.get(stimulus__name=name)
    assert gaze_map.source_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert dataset.provenance["files"][f"fixation_maps/{name}.jpg"] == gaze_map.source_sha256
    expected = np.asarray(Image.open(source), dtype=np.float64)
    stored = load(gaze_map.array)
    assert stored.dtype == np.float32 and stored.shape == (768, 1024)
    np.testing.assert_allclose(stored, expected / expected.sum(), rtol=1e-5, atol=1e-12)
    assert Image.open(gaze_map.preview.path).size == (512, 384)

    fixated = np.load(fixations.array.path)
    assert fixated["x"].shape == (259,) and np.isnan(fixated["duration"]).all()
    assert not list(Path(isolated_media).rglob("*.part"))


def test_zip_with_a_top_folder_imports_like_the_folder(tmp_path, isolated_media):
    archive = tmp_path / "set.zip"
    archive.write_bytes(
        zip_bytes({f"top/{k}": v for k, v in good_files(3).items()} | {"top/README.md": b"x"})
    )
    dataset = import_gaze_path("zipped", archive)
    assert sorted(dataset.stimuli.values_list("name", flat=True)) == ["s0", "s1", "s2"]
    assert (
        dataset.provenance["files"]["top/stimuli/s0.png"] == hashlib.sha256(stimulus_png(seed=0)).hexdigest()
    )


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".tif", "-16bit.png"])
def test_array_and_16_bit_maps(tmp_path, suffix):
    rng = np.random.default_rng(1)
    values = rng.random((12, 16)).astype(np.float32)
    if suffix == ".npy":
        data = npy_bytes(values)
    elif suffix == ".npz":
        buffer = io.BytesIO()
        np.savez(buffer, gfdm=values)
        data = buffer.getvalue()
    elif suffix == ".tif":
        data = image_bytes(values, "TIFF")
    else:
        values = (values * 65535).astype(np.uint16)
        data = image_bytes(values, "PNG")
    name = "fixation_maps/s0" + (".png" if suffix == "-16bit.png" else suffix)
    root = write_tree(
        tmp_path / "src", {"stimuli/s0.jpg": image_bytes(np.zeros((12, 16, 3), np.uint8), "JPEG"), name: data}
    )
    dataset = import_gaze_path("arrays", root)
    stored = load(GazeMap.objects.get(stimulus__dataset=dataset).array)
    np.testing.assert_allclose(stored, values / values.sum(dtype=np.float64), rtol=1e-5)


def test_resample_resizes_a_map_to_its_stimulus(tmp_path):
    root = write_tree(
        tmp_path / "src", {"stimuli/s0.png": stimulus_png(16, 12), "fixation_maps/s0.png": map_png(8, 6)}
    )
    with pytest.raises(GazeImportError, match="map is 8x6 but its stimulus is 16x12"):
        import_gaze_path("small", root)
    import_gaze_path("small", root, ImportOptions(resample=True))
    stored = load(GazeMap.objects.get().array)
    assert stored.shape == (12, 16) and stored.sum() == pytest.approx(1, abs=1e-6)


def test_fixation_table_becomes_gfdms_and_keeps_the_fixations(tmp_path):
    table = (
        "image,x,y,duration,observer,start_time\n"
        "s0.png,3,4,200,ann,0\ns0.png,10,7,600,bob,250\ns1,15,11,100,ann,0\n"
    )
    files = {
        "stimuli/s0.png": stimulus_png(seed=0),
        "stimuli/s1.png": stimulus_png(seed=1),
        "fixations.csv": table.encode(),
    }
    root = write_tree(tmp_path / "src", files)
    dataset = import_gaze_path("table", root, ImportOptions(pixels_per_degree=2.0, weight_by_duration=True))
    assert (dataset.source_format, dataset.sigma_px) == ("fixations", 2.0)

    s0 = GazeStimulus.objects.get(name="s0")
    expected = density_from_fixations(
        np.array([[3, 4], [10, 7]]), (12, 16), 2.0, weights=np.array([200, 600])
    )
    np.testing.assert_allclose(load(s0.gaze_map.array), expected, rtol=1e-6)
    # Independent check: the weighted Gaussian sum worked out directly.
    ys, xs = np.mgrid[0:12, 0 : 12 + 4]
    direct = sum(
        w * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0**2)) for x, y, w in [(3, 4, 200), (10, 7, 600)]
    )
    np.testing.assert_allclose(load(s0.gaze_map.array), direct / direct.sum(), rtol=1e-4)

    stored = np.load(s0.fixations.array.path)
    assert stored["x"].tolist() == [3, 10] and stored["observer"].tolist() == ["ann", "bob"]
    assert stored["start_time"].tolist() == [0, 250] and s0.fixations.count == 2
    assert s0.fixations.source_name == "fixations.csv"


def test_a_failed_transaction_removes_the_files_it_wrote(tmp_path, isolated_media, monkeypatch):
    import_gaze_path("first", write_tree(tmp_path / "a", good_files(1)))
    before = media_files(isolated_media)

    def fail(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(GazeFixations.objects, "bulk_create", fail)
    with pytest.raises(RuntimeError, match="went away"):
        import_gaze_path("second", write_tree(tmp_path / "b", good_files(2)))
    assert media_files(isolated_media) == before
    assert list(GazeDataset.objects.values_list("name", flat=True)) == ["first"]


def test_zip_entries_refuse_an_entry_that_lies_about_its_size(tmp_path):
    data = zip_bytes({"stimuli/s0.png": b"A" * 5000})
    # Shrink the declared size in the local and the central headers: a bomb in miniature.
    patched = bytearray(data)
    local = patched.index(b"PK\x03\x04")
    central = patched.index(b"PK\x01\x02")
    patched[local + 22 : local + 26] = (100).to_bytes(4, "little")
    patched[central + 24 : central + 28] = (100).to_bytes(4, "little")
    with zip_entries(io.BytesIO(bytes(patched)), "lie.zip", 10**6, GazeImportError) as entries:
        with pytest.raises(ValueError, match="does not unpack to the 100 bytes it declares"):
            entries["stimuli/s0.png"]()


def test_a_large_stimulus_in_a_zip_is_staged_in_chunks_not_held_in_memory(tmp_path, isolated_media, settings):
    # A valid PNG followed by 64 MiB of zeros (image readers stop at its end): the zip entry is large,
    # the archive small, and the stimulus is only copied, so no step needs the whole entry in memory.
    settings.TMP_DIR = tmp_path / "tmp"
    archive, mib = tmp_path / "large.zip", 1024**2
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("fixation_maps/s0.png", map_png())
        with zf.open("stimuli/s0.png", "w") as out:
            out.write(stimulus_png())
            for _ in range(64):
                out.write(bytes(mib))
    with zipfile.ZipFile(archive) as zf:
        expected = hashlib.sha256(zf.read("stimuli/s0.png")).hexdigest()

    tracemalloc.start()
    try:
        with zip_entries(archive, "large.zip", 10**9, GazeImportError) as entries:
            dataset = import_gaze("large", entries)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    stimulus = dataset.stimuli.get()
    assert (stimulus.width, stimulus.height, stimulus.sha256) == (16, 12, expected)
    assert Path(stimulus.image.path).stat().st_size == len(stimulus_png()) + 64 * mib
    assert list(settings.TMP_DIR.iterdir()) == []  # the staging folder is gone
    assert peak < 16 * mib, f"the import held {peak / mib:.1f} MiB at its peak"


def test_import_from_entries_of_an_archive_file_object(tmp_path):
    archive = io.BytesIO(zip_bytes(good_files(2)))
    with zip_entries(archive, "upload.zip", 10**6, GazeImportError) as entries:
        dataset = import_gaze("fileobj", entries)
    assert dataset.stimuli.count() == 2
    assert zipfile.is_zipfile(io.BytesIO(zip_bytes(good_files(1))))


def test_report_hears_each_file_and_stopping_in_it_imports_nothing(tmp_path, isolated_media, settings):
    settings.TMP_DIR = tmp_path / "tmp"
    root = write_tree(tmp_path / "src", good_files(5))
    heard = []
    import_gaze_path("five", root, report=lambda *call: heard.append(call))
    assert heard == [(i, 5, f"checking the {kind}") for kind in ("stimuli", "maps") for i in range(6)]
    before = media_files(isolated_media)

    def stop(done, total, message):
        if message == "checking the maps" and done == 2:
            raise JobCancelled

    with pytest.raises(JobCancelled):
        import_gaze_path("again", root, report=stop)
    assert list(GazeDataset.objects.values_list("name", flat=True)) == ["five"]
    assert media_files(isolated_media) == before and not any(settings.TMP_DIR.iterdir())
