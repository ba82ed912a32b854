"""Each bad input: the report names the file and the problem, and nothing is stored."""

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from study.gaze.importer import GazeImportError, import_gaze_path
from study.gaze.options import ImportOptions
from tests.integration.gaze.helpers import (
    db_state,
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


def with_map(name: str, data: bytes) -> dict[str, bytes]:
    files = good_files(2)
    del files["fixation_maps/s1.png"]
    return files | {name: data}


def npz_two_arrays() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.ones((12, 16)), b=np.ones((12, 16)))
    return buffer.getvalue()


nan_map = np.ones((12, 16), np.float32)
nan_map[3, 4] = np.nan
inf_map = np.ones((12, 16), np.float32)
inf_map[0, 0] = np.inf
table = "image,x,y\ns0.png,3,4\ns0.png,16.2,5\n"

CASES = {
    "unreadable stimulus": (
        good_files(2) | {"stimuli/s1.png": b"not a png"},
        "stimuli/s1.png",
        "unreadable image",
    ),
    "unreadable map": (
        with_map("fixation_maps/s1.png", b"\x89PNG broken"),
        "fixation_maps/s1.png",
        "unreadable map",
    ),
    "map size": (
        with_map("fixation_maps/s1.png", map_png(8, 6)),
        "fixation_maps/s1.png",
        "map is 8x6 but its stimulus is 16x12",
    ),
    "nan": (with_map("fixation_maps/s1.npy", npy_bytes(nan_map)), "fixation_maps/s1.npy", "NaN or infinite"),
    "inf": (with_map("fixation_maps/s1.npy", npy_bytes(inf_map)), "fixation_maps/s1.npy", "NaN or infinite"),
    "negative": (
        with_map("fixation_maps/s1.npy", npy_bytes(-np.ones((12, 16)))),
        "fixation_maps/s1.npy",
        "negative",
    ),
    "all zero": (
        with_map("fixation_maps/s1.png", image_bytes(np.zeros((12, 16), np.uint8))),
        "fixation_maps/s1.png",
        "all zero",
    ),
    "colour map": (
        with_map("fixation_maps/s1.png", stimulus_png(seed=1)),
        "fixation_maps/s1.png",
        "grayscale",
    ),
    "npz of two arrays": (
        with_map("fixation_maps/s1.npz", npz_two_arrays()),
        "fixation_maps/s1.npz",
        "exactly one",
    ),
    "fixation outside": (
        good_files(2) | {"fixations.csv": table.encode()},
        "fixations.csv",
        "1 fixation point(s) lie outside the 16x12 image",
    ),
    "fixation not a number": (
        good_files(1) | {"fixations.tsv": b"image\tx\ty\ns0\tleft\t4\n"},
        "fixations.tsv",
        "column x: not a finite number on line(s) 2",
    ),
    "table without stimulus": (
        good_files(1) | {"fixations.csv": b"image,x,y\nnope.jpg,1,1\n"},
        "fixations.csv",
        "image 'nope' has no stimulus",
    ),
    "map without stimulus": (
        good_files(1) | {"fixation_maps/orphan.png": map_png()},
        "fixation_maps/orphan.png",
        "no stimulus of the same name",
    ),
    "stimulus without map": (
        good_files(1) | {"stimuli/lonely.png": stimulus_png()},
        "stimuli/lonely.png",
        "no density map and no fixations",
    ),
    "duplicate map": (
        good_files(2) | {"fixation_maps/s1.npy": npy_bytes(np.ones((12, 16)))},
        "fixation_maps/s1",
        "duplicate name",
    ),
    "duplicate stimulus": (
        good_files(2) | {"stimuli/s1.jpg": image_bytes(np.zeros((12, 16, 3), np.uint8), "JPEG")},
        "stimuli/s1",
        "duplicate name",
    ),
    "unsupported file": (
        good_files(1) | {"fixation_maps/notes.txt": b"hi"},
        "fixation_maps/notes.txt",
        "unsupported file type",
    ),
    "no stimuli folder": ({"fixation_maps/s0.png": map_png()}, "(archive)", "no stimuli/ folder"),
}


@pytest.fixture
def existing(tmp_path, isolated_media):
    """A data set imported before the bad one, and the state the bad import must leave alone."""
    import_gaze_path("existing", write_tree(tmp_path / "existing", good_files(1)))
    return db_state(), media_files(isolated_media)


def assert_unchanged(existing, media) -> None:
    assert (db_state(), media_files(media)) == existing


@pytest.mark.parametrize("case", CASES)
def test_bad_folder_is_refused_with_a_report(case, tmp_path, existing, isolated_media):
    files, file, problem = CASES[case]
    with pytest.raises(GazeImportError) as caught:
        import_gaze_path("bad", write_tree(tmp_path / "src", files))
    assert any(file in p.file and problem in p.problem for p in caught.value.problems), caught.value.problems
    assert_unchanged(existing, isolated_media)


@pytest.mark.parametrize("entry", ["/etc/evil.png", "../evil.png", "stimuli/../../evil.png", "C:/evil.png"])
def test_zip_with_an_unsafe_path_is_refused(entry, tmp_path, existing, isolated_media):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes(good_files(1) | {entry: map_png()}))
    with pytest.raises(GazeImportError) as caught:
        import_gaze_path("bad", archive)
    assert [(p.file, p.problem) for p in caught.value.problems] == [
        (entry, "unsafe path in archive (absolute, or containing '..')")
    ]
    assert_unchanged(existing, isolated_media)


def test_zip_that_unpacks_past_the_limit_is_refused(tmp_path, existing, isolated_media, settings):
    settings.UNPACKED_MAX_BYTES = 50_000
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes(good_files(1) | {"fixation_maps/zeros.npy": npy_bytes(np.zeros(20_000))}))
    assert archive.stat().st_size < 5_000  # small on disk, large unpacked
    with pytest.raises(
        GazeImportError, match=r"bomb.zip: archive unpacks to \d[\d,]* bytes, past the limit of 50,000"
    ):
        import_gaze_path("bad", archive)
    assert_unchanged(existing, isolated_media)


def test_zip_entry_lying_about_its_size_is_refused(tmp_path, existing, isolated_media):
    data = bytearray(zip_bytes(good_files(1)))
    # Declare 10 bytes for the map in its central directory header (the one zipfile trusts):
    # the header starts 46 bytes before the name's last occurrence; the size field is at +24.
    header = data.rindex(b"fixation_maps/s0.png") - 46
    assert data[header : header + 4] == b"PK\x01\x02"
    data[header + 24 : header + 28] = (10).to_bytes(4, "little")
    archive = tmp_path / "lie.zip"
    archive.write_bytes(bytes(data))
    with pytest.raises(GazeImportError) as caught:
        import_gaze_path("bad", archive)
    assert any(
        p.file == "fixation_maps/s0.png" and "does not unpack to the 10 bytes it declares" in p.problem
        for p in caught.value.problems
    ), caught.value.problems
    assert_unchanged(existing, isolated_media)


def test_existing_name_and_bad_options_are_refused(tmp_path, existing, isolated_media):
    with pytest.raises(GazeImportError) as caught:
        import_gaze_path("existing", write_tree(tmp_path / "src", good_files(1)), ImportOptions(sigma_px=-1))
    assert {(p.file, p.problem) for p in caught.value.problems} == {
        ("existing", "a gaze data set of this name exists already"),
        ("(options)", "sigma must be a positive finite number"),
    }
    assert_unchanged(existing, isolated_media)


def test_fixations_without_sigma_are_refused(tmp_path, existing, isolated_media):
    files = {"stimuli/s0.png": stimulus_png(), "fixations.csv": b"image,x,y\ns0,1,2\n"}
    with pytest.raises(GazeImportError, match="fixations.csv: building GFDMs from fixations needs a sigma"):
        import_gaze_path("bad", write_tree(tmp_path / "src", files))
    assert_unchanged(existing, isolated_media)


def test_every_problem_is_listed_and_the_command_shows_them(tmp_path, existing, isolated_media):
    files = good_files(3) | {
        "fixation_maps/s1.png": b"junk",
        "fixation_maps/s2.npy": npy_bytes(np.zeros((12, 16))),
        "fixation_maps/ghost.png": map_png(),
    }
    del files["fixation_maps/s2.png"]
    with pytest.raises(CommandError) as caught:
        call_command("import_gaze", "bad", str(write_tree(tmp_path / "src", files)), "--verbosity", "0")
    message = str(caught.value)
    assert message.startswith("3 problem(s), nothing was imported:")
    for line in (
        "fixation_maps/s1.png: unreadable map",
        "fixation_maps/s2.npy: map is all zero",
        "fixation_maps/ghost.png: no stimulus of the same name",
    ):
        assert line in message
    assert_unchanged(existing, isolated_media)
