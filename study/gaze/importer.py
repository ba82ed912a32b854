"""Import a gaze data set, all or nothing.

A source (a folder, a zip archive or uploaded files) is laid out like the MIT1003 sample:

    stimuli/NAME.jpg              the images shown to observers (PNG/JPEG/TIFF/BMP)
    fixation_maps/NAME.png        GFDMs: 8/16-bit grayscale PNG/JPEG/TIFF, or .npy/.npz float arrays
    fixations.csv (or .tsv)       optional fixation table: image, x, y[, duration, observer, start_time]
    fixation_points/NAME_fixation_locations.mat   optional binary fixation map (MIT1003: `fixations`),
                                  with NAME.jpg / NAME_fixation_map.jpg beside it if NAME is not in stimuli/

Everything is read and checked first (phase 1, into a private folder under settings.TMP_DIR); any problem
raises one `GazeImportError` listing every file and what is wrong with it, and nothing is stored.
Then (phase 2) one transaction creates the rows, and each file is copied into MEDIA_ROOT under
a temporary name and renamed; if the transaction fails, the files written are removed again.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import scipy.io
from django.conf import settings
from django.db import DatabaseError, transaction
from matplotlib import colormaps
from PIL import Image
from tqdm import tqdm

from analysis.errors import AnalysisError
from analysis.gfdm import density_from_fixations, fixation_pixels, points_from_fixation_map, sigma_from_ppd
from study.models import GazeDataset, GazeFixations, GazeMap, GazeStimulus
from study.progress import Report, silent
from study.tmp import tmp_dir

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
MAP_SUFFIXES = IMAGE_SUFFIXES - {".bmp"} | {".npy", ".npz"}
TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t"}
PREVIEW_MAX_SIDE = 512
GRAYSCALE_MODES = {"L", "I;16", "I;16B", "I;16L", "I", "F"}
DEFAULT_UNPACKED_MAX_BYTES = 2 * 1024**3
IMPORT_THREADS = min(8, os.cpu_count() or 1)
# Database limits, the stricter of SQLite and PostgreSQL: PostgreSQL's integer, its varchar lengths,
# no NUL character in text (PostgreSQL refuses it), finite floats (JSON has no Infinity or NaN).
MAX_INTEGER = 2**31 - 1
MAX_DESCRIPTION_CHARS = 20_000
MAX_PATH_CHARS = 255  # GazeMap.source_name and friends
MAX_STEM_BYTES = 200  # stored as "<stem>-<16 hex>.<suffix>": within the usual 255-byte file name limit

CHUNK_BYTES = 1024**2  # what copying an entry to disk holds in memory at a time
# What reading an entry may raise: a broken or lying archive, a file gone, a disk full.
UNREADABLE = (OSError, ValueError, zipfile.BadZipFile, zlib.error, RuntimeError, EOFError)

# A source: relative POSIX path -> a function returning the file's bytes (FileEntry and ZipEntry can also
# `copy_to` a path in chunks, which the import uses for the files it only copies).
Entries = Mapping[str, Callable[[], bytes]]


@dataclass(frozen=True)
class Problem:
    file: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}: {self.problem}"


class GazeImportError(Exception):
    """The source cannot be imported; `problems` lists every file and what is wrong with it."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]):
        self.problems = tuple(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s), nothing was imported:\n{lines}")


@dataclass(frozen=True)
class ImportOptions:
    description: str = ""
    task: str = ""
    n_observers: int | None = None
    pixels_per_degree: float | None = None
    sigma_px: float | None = None  # GFDM sigma for fixations; default: 1 degree at pixels_per_degree
    resample: bool = False  # resize maps whose size differs from their stimulus (bilinear)
    weight_by_duration: bool = False  # weigh each fixation by its duration in GFDMs
    owner_id: int | None = None  # the user who owns the data set (None: superusers only)


def option_problems(options: ImportOptions) -> list[Problem]:
    """What in `options` the database would refuse or store wrongly, on SQLite and PostgreSQL alike."""
    problems = []
    for label, value, limit in (
        ("description", options.description, MAX_DESCRIPTION_CHARS),
        ("task", options.task, GazeDataset._meta.get_field("task").max_length),
    ):
        if "\x00" in value:
            problems.append(Problem("(options)", f"{label} must not contain NUL characters"))
        if len(value) > limit:
            problems.append(Problem("(options)", f"{label} is longer than {limit:,} characters"))
    if options.n_observers is not None and not 0 <= options.n_observers <= MAX_INTEGER:
        problems.append(Problem("(options)", f"number of observers must be between 0 and {MAX_INTEGER:,}"))
    for label, value in (("pixels per degree", options.pixels_per_degree), ("sigma", options.sigma_px)):
        if value is not None and not (math.isfinite(value) and value > 0):
            problems.append(Problem("(options)", f"{label} must be a positive finite number"))
    return problems


def path_problem(path: str) -> str | None:
    """Why an entry's path cannot be stored (control characters, too long), or None."""
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        return "file name contains control characters"
    if len(path) > MAX_PATH_CHARS:
        return f"path is longer than {MAX_PATH_CHARS} characters"
    if len(PurePosixPath(path).stem.encode("utf-8", "surrogatepass")) > MAX_STEM_BYTES:
        return f"file name is longer than {MAX_STEM_BYTES} bytes"
    return None


@dataclass
class _Staged:
    """One stimulus, checked, with its files written to the staging folder."""

    name: str
    width: int
    height: int
    image: tuple[Path, str, str]  # (staged file, source name, source sha256)
    map: tuple[Path, Path, str, str] | None = None  # (array, preview, source name, source sha256)
    fixations: tuple[Path, int, str, str] | None = None  # (array, count, source name, source sha256)


# ---------------------------------------------------------------------------------------------
# Sources


class FileEntry:
    """One file of a folder source: call it for its bytes, or `copy_to(path)` to copy it in chunks."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self) -> bytes:
        return self.path.read_bytes()

    def copy_to(self, path: Path) -> str:
        """Copy the file to `path` in chunks of CHUNK_BYTES; returns its sha256 hex."""
        with open(self.path, "rb") as source:
            return _write_chunks(iter(lambda: source.read(CHUNK_BYTES), b""), path)


class ZipEntry:
    """One file of a zip archive: call it for its bytes, or `copy_to(path)` to unpack it in chunks of
    CHUNK_BYTES. Either way it must unpack to its declared size and CRC-32, or ValueError is raised."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo):
        self.archive, self.info = archive, info

    def __call__(self) -> bytes:
        return b"".join(self._chunks())

    def copy_to(self, path: Path) -> str:
        """Unpack the entry to `path`; returns its sha256 hex. On any error nothing is left at `path`."""
        return _write_chunks(self._chunks(), path)

    def _chunks(self) -> Iterator[bytes]:
        size, crc = 0, 0
        try:
            with self.archive.open(self.info) as source:  # zipfile stops at the declared size
                while chunk := source.read(CHUNK_BYTES):
                    size, crc = size + len(chunk), zlib.crc32(chunk, crc)
                    yield chunk
        except zipfile.BadZipFile:  # zipfile's own CRC check, when the stream ends where declared
            size = -1
        if size != self.info.file_size or crc != self.info.CRC:
            raise ValueError(
                f"does not unpack to the {self.info.file_size:,} bytes it declares (CRC mismatch)"
            )


def _write_chunks(chunks: Iterator[bytes], path: Path) -> str:
    """Write `chunks` to `path` and return their sha256 hex; `path` is removed if anything fails."""
    digest = hashlib.sha256()
    try:
        with open(path, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def folder_entries(root: Path) -> dict[str, FileEntry]:
    """Every visible file under `root`, by relative POSIX path."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(p.relative_to(root).as_posix()))
    return {p.relative_to(root).as_posix(): FileEntry(p) for p in files}


@contextmanager
def zip_entries(archive, label: str, max_unpacked_bytes: int) -> Iterator[dict[str, ZipEntry]]:
    """The files of a zip archive (path or file object), refusing unsafe names and archives that
    declare more than `max_unpacked_bytes` unpacked; each read also stops at the declared size."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise GazeImportError([Problem(label, f"not a readable zip archive ({error})")]) from error
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and not _hidden(i.filename)]
        problems = [
            Problem(i.filename, "unsafe path in archive (absolute, or containing '..')")
            for i in infos
            if _unsafe(i.filename)
        ]
        declared = sum(i.file_size for i in infos)
        if declared > max_unpacked_bytes:
            problems.append(
                Problem(
                    label,
                    f"archive unpacks to {declared:,} bytes, past the limit of {max_unpacked_bytes:,} bytes",
                )
            )
        if problems:
            raise GazeImportError(problems)
        yield {i.filename: ZipEntry(zf, i) for i in infos}


@contextmanager
def open_source(
    path: Path, max_unpacked_bytes: int | None = None
) -> Iterator[dict[str, FileEntry | ZipEntry]]:
    """Entries of a folder or a .zip file at `path`."""
    path = Path(path)
    if path.is_dir():
        yield folder_entries(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        with zip_entries(path, path.name, max_unpacked_bytes or unpacked_limit()) as entries:
            yield entries
    else:
        raise GazeImportError([Problem(str(path), "not a folder or a zip archive")])


def _hidden(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return any(p.startswith(".") and p not in (".", "..") for p in parts) or "__MACOSX" in parts


def _unsafe(name: str) -> bool:
    posix = name.replace("\\", "/")
    return posix.startswith("/") or bool(re.match(r"^[A-Za-z]:", posix)) or ".." in PurePosixPath(posix).parts


def unpacked_limit() -> int:
    return int(getattr(settings, "GAZE_UNPACKED_MAX_BYTES", DEFAULT_UNPACKED_MAX_BYTES))


# ---------------------------------------------------------------------------------------------
# Import


def import_gaze_path(
    name: str, path: Path, options: ImportOptions = ImportOptions(), *, progress: bool = False,
    report: Report = silent, staging_prefix: str = "gaze-import-",
) -> GazeDataset:
    """Import the folder or zip archive at `path` as data set `name`; raises `GazeImportError`."""
    with open_source(path) as entries:
        return import_gaze(name, entries, options, progress=progress, report=report,
                           staging_prefix=staging_prefix)


def import_gaze(
    name: str, entries: Entries, options: ImportOptions = ImportOptions(), *, progress: bool = False,
    report: Report = silent, staging_prefix: str = "gaze-import-",
) -> GazeDataset:
    """Check every entry, then store the data set in one transaction; raises `GazeImportError`
    listing every problem, in which case the database and MEDIA_ROOT are left as they were.
    `report` hears each file checked; the staging folder under TMP_DIR is named `staging_prefix...`
    (a job names itself there, see study.jobs.staging_prefix)."""
    with tempfile.TemporaryDirectory(prefix=staging_prefix, dir=tmp_dir()) as staging:
        staged, provenance = _stage(name, entries, options, Path(staging), progress, report)
        return _store(name, staged, provenance, options)


def _stage(
    name: str, entries: Entries, options: ImportOptions, staging: Path, progress: bool, report: Report
) -> tuple[list[_Staged], dict]:
    problems: list[Problem] = []
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,100}", name or ""):
        problems.append(Problem(name or "(name)", "data set name must be 1-100 letters, digits, '-' or '_'"))
    elif GazeDataset.objects.filter(name=name).exists():
        problems.append(Problem(name, "a gaze data set of this name exists already"))
    problems.extend(option_problems(options))

    layout = _Layout.of(entries, problems)
    hashes: dict[str, str] = {}

    def read(path: str) -> bytes | None:
        try:
            data = entries[path]()
        except UNREADABLE as error:
            problems.append(Problem(path, f"unreadable ({error})"))
            return None
        hashes[path] = hashlib.sha256(data).hexdigest()
        return data

    def copy(path: str) -> Path | None:
        """The entry written to the staging folder (in chunks where the source can), named by its sha256."""
        partial = staging / f"partial-{next(_staged_numbers)}"
        try:
            hashes[path] = _copy_entry(entries[path], partial)
        except UNREADABLE as error:
            problems.append(Problem(path, f"unreadable ({error})"))
            return None
        return partial.rename(_staged_path(staging, hashes[path]))

    stimuli: dict[str, _Staged] = {}

    def check_stimulus(stem: str, path: str) -> None:
        staged = copy(path)
        if staged is None:
            return
        try:
            with Image.open(staged) as image:
                image.load()
                width, height = image.size
        except Exception as error:  # PIL raises many types for broken files
            problems.append(Problem(path, f"unreadable image ({error})"))
            return
        stimuli[stem] = _Staged(stem, width, height, (staged, path, hashes[path]))

    _each(check_stimulus, layout.stimuli, "stimuli", progress, report)

    fixations_source = _read_fixations(layout, stimuli, read, problems)
    usable = not option_problems(options)
    sigma = options.sigma_px or (
        sigma_from_ppd(options.pixels_per_degree) if options.pixels_per_degree and usable else None
    )
    if fixations_source and sigma is None and set(fixations_source) - set(layout.maps):
        problems.append(
            Problem(
                next(iter(layout.tables), "fixations"),
                "building GFDMs from fixations needs a sigma in pixels or pixels per degree",
            )
        )

    for stem in sorted(set(layout.maps) - set(stimuli) - set(layout.stimuli)):
        problems.append(Problem(layout.maps[stem], "no stimulus of the same name"))

    def check_map(stem: str, path: str) -> None:
        stimulus = stimuli.get(stem)
        data = read(path) if stimulus else None
        if data is None:
            return
        try:
            density = _density(path, data, (stimulus.height, stimulus.width), options.resample)
        except _MapError as error:
            problems.append(Problem(path, str(error)))
            return
        stimulus.map = (*_stage_map(staging, density), path, hashes[path])

    _each(check_map, layout.maps, "maps", progress, report)

    def stage_fixations(stem: str, columns: dict) -> None:
        stimulus, source_name = stimuli[stem], columns.pop("_source")
        stimulus.fixations = (
            _write(staging, _npz(columns)),
            len(columns["x"]),
            source_name,
            hashes[source_name],
        )
        if stimulus.map is None and sigma is not None:
            weights = columns["duration"] if options.weight_by_duration else None
            try:
                density = density_from_fixations(
                    np.column_stack([columns["x"], columns["y"]]),
                    (stimulus.height, stimulus.width),
                    sigma,
                    weights,
                )
            except AnalysisError as error:
                problems.append(Problem(source_name, f"{stem}: {error}"))
                return
            stimulus.map = (*_stage_map(staging, density), source_name, hashes[source_name])

    _each(stage_fixations, fixations_source, "fixations", progress, report)
    for stem, stimulus in stimuli.items():
        if stimulus.map is None and stimulus.fixations is None and stem not in layout.maps:
            problems.append(Problem(stimulus.image[1], "stimulus has no density map and no fixations"))

    if not layout.stimuli and not problems:
        problems.append(Problem("stimuli/", "no stimuli found"))
    if problems:
        raise GazeImportError(sorted(problems, key=lambda p: p.file))
    fmt = "maps+fixations" if layout.maps and fixations_source else "maps" if layout.maps else "fixations"
    provenance = {
        "files": dict(sorted(hashes.items())),
        "source_format": fmt,
        "sigma_px": sigma,
        "resample": options.resample,
        "weight_by_duration": options.weight_by_duration,
    }
    return sorted(stimuli.values(), key=lambda s: s.name), provenance


def _each(
    function: Callable[[str, object], None], items: Mapping[str, object], desc: str, progress: bool,
    report: Report,
) -> None:
    """Call `function(key, value)` for every item, on threads (decoding, hashing and file writes
    release the GIL), with a progress bar and a report after each; if the report raises, the items
    not started yet are dropped."""
    with ThreadPoolExecutor(max_workers=IMPORT_THREADS) as pool:
        calls = pool.map(lambda item: function(*item), sorted(items.items()))
        try:
            if items:  # the stage named as it starts
                report(0, len(items), f"checking the {desc}")
            for done, _ in enumerate(tqdm(calls, total=len(items), desc=desc, disable=not progress), 1):
                report(done, len(items), f"checking the {desc}")
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


@dataclass
class _Layout:
    """Which entry is which: stimuli, maps, fixation tables and MIT1003 fixation-location files."""

    stimuli: dict[str, str] = field(default_factory=dict)
    maps: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Entries, problems: list[Problem]) -> _Layout:
        # The folder that holds stimuli/: the top of the source, or one folder down (a zipped folder).
        roots = sorted(
            {
                "/".join(p.split("/")[:depth]) + "/" * depth
                for p in entries
                for depth in (0, 1)
                if p.count("/") > depth and p.split("/")[depth] == "stimuli"
            }
        )
        layout = cls()
        if len(roots) != 1:
            found = "no stimuli/ folder" if not roots else f"several stimuli/ folders ({', '.join(roots)})"
            problems.append(
                Problem("(archive)", f"{found}; expected stimuli/ beside fixation_maps/ or a table")
            )
            return layout
        root = roots[0]
        for path in entries:
            if not path.startswith(root):
                continue
            if problem := path_problem(path):
                problems.append(Problem(path.encode("unicode_escape").decode("ascii")[:300], problem))
                continue
            rel = PurePosixPath(path[len(root) :])
            folder, suffix, stem = rel.parts[0] if len(rel.parts) > 1 else "", rel.suffix.lower(), rel.stem
            if folder == "stimuli":
                layout._add(
                    layout.stimuli, stem, path, suffix in IMAGE_SUFFIXES and len(rel.parts) == 2, problems
                )
            elif folder == "fixation_maps":
                layout._add(layout.maps, stem, path, suffix in MAP_SUFFIXES and len(rel.parts) == 2, problems)
            elif folder == "fixation_points":
                if stem.endswith("_fixation_locations") and suffix == ".mat":
                    layout._add(
                        layout.locations, stem.removesuffix("_fixation_locations"), path, True, problems
                    )
                elif stem.endswith("_fixation_map"):
                    layout._add(
                        layout.maps,
                        stem.removesuffix("_fixation_map"),
                        path,
                        suffix in MAP_SUFFIXES,
                        problems,
                    )
                else:
                    layout._add(layout.stimuli, stem, path, suffix in IMAGE_SUFFIXES, problems)
            elif not folder and suffix in TABLE_SEPARATORS:
                layout.tables.append(path)
        if len(layout.tables) > 1:
            problems.append(Problem(", ".join(layout.tables), "more than one fixation table"))
        return layout

    @staticmethod
    def _add(kind: dict[str, str], stem: str, path: str, supported: bool, problems: list[Problem]) -> None:
        if not supported:
            problems.append(Problem(path, "unsupported file type or nested folder"))
        elif stem in kind:
            problems.append(Problem(path, f"duplicate name: {kind[stem]} has the same name"))
        else:
            kind[stem] = path


class _MapError(ValueError):
    pass


def _density(path: str, data: bytes, shape: tuple[int, int], resample: bool) -> np.ndarray:
    """Decode a map file into `(H, W)` float32 summing to 1; raises `_MapError`."""
    suffix = PurePosixPath(path).suffix.lower()
    try:
        if suffix in (".npy", ".npz"):
            loaded = np.load(io.BytesIO(data), allow_pickle=False)
            if suffix == ".npz":
                if len(loaded.files) != 1:
                    raise _MapError(f"an .npz map must hold exactly one array, found {len(loaded.files)}")
                loaded = loaded[loaded.files[0]]
            if loaded.ndim != 2 or not np.issubdtype(loaded.dtype, np.number):
                raise _MapError(f"expected a 2-D numeric array, got shape {loaded.shape} of {loaded.dtype}")
            values = loaded.astype(np.float32)
        else:
            with Image.open(io.BytesIO(data)) as image:
                if image.mode not in GRAYSCALE_MODES:
                    raise _MapError(f"expected an 8- or 16-bit grayscale image, got mode {image.mode}")
                values = np.asarray(image, dtype=np.float32)
    except _MapError:
        raise
    except Exception as error:  # numpy and PIL raise many types for broken files
        raise _MapError(f"unreadable map ({error})") from error
    if not np.isfinite(values).all():
        raise _MapError("map contains NaN or infinite values")
    if values.min() < 0:
        raise _MapError("map contains negative values")
    if values.shape != shape:
        if not resample:
            raise _MapError(
                f"map is {values.shape[1]}x{values.shape[0]} but its stimulus is "
                f"{shape[1]}x{shape[0]} (ask to resample to accept it)"
            )
        values = np.asarray(Image.fromarray(values, mode="F").resize(shape[::-1], Image.BILINEAR))
    total = float(values.sum(dtype=np.float64))
    if total <= 0:
        raise _MapError("map is all zero")
    return (values / total).astype(np.float32)


def _read_fixations(
    layout: _Layout, stimuli: dict[str, _Staged], read, problems: list[Problem]
) -> dict[str, dict]:
    """Fixation columns per stimulus name, from the table and the .mat fixation-location files."""
    found: dict[str, dict] = {}
    for table in layout.tables:
        data = read(table)
        if data is not None:
            found.update(_table_fixations(table, data, stimuli, layout, problems))
    for stem, path in sorted(layout.locations.items()):
        data = read(path)
        if data is None:
            continue
        if stem in found:
            problems.append(Problem(path, f"fixations for {stem} are also in {found[stem]['_source']}"))
            continue
        stimulus = stimuli.get(stem)
        if stimulus is None:
            if stem not in layout.stimuli:
                problems.append(Problem(path, "no stimulus of the same name"))
            continue
        try:
            fixated = scipy.io.loadmat(io.BytesIO(data))["fixations"]
        except Exception as error:  # scipy raises many types for broken files
            problems.append(Problem(path, f"unreadable MATLAB file with a 'fixations' variable ({error})"))
            continue
        if fixated.shape != (stimulus.height, stimulus.width) or not np.count_nonzero(fixated):
            problems.append(
                Problem(
                    path,
                    f"fixation map of shape {fixated.shape} must match the "
                    f"{stimulus.width}x{stimulus.height} stimulus and mark some pixels",
                )
            )
            continue
        points = points_from_fixation_map(fixated)
        n = len(points)
        found[stem] = {
            "x": points[:, 0],
            "y": points[:, 1],
            "duration": np.full(n, np.nan),
            "start_time": np.full(n, np.nan),
            "observer": np.full(n, ""),
            "_source": path,
        }
    return found


def _table_fixations(
    table: str, data: bytes, stimuli: dict[str, _Staged], layout: _Layout, problems: list[Problem]
) -> dict[str, dict]:
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=TABLE_SEPARATORS[PurePosixPath(table).suffix.lower()])
    except Exception as error:  # pandas raises many types for broken tables
        problems.append(Problem(table, f"unreadable table ({error})"))
        return {}
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = {"image", "x", "y"} - set(frame.columns)
    if missing:
        problems.append(Problem(table, f"missing column(s) {', '.join(sorted(missing))}"))
        return {}
    numeric = {}
    for column in ("x", "y", "duration", "start_time"):
        values = (
            pd.to_numeric(frame[column], errors="coerce")
            if column in frame
            else pd.Series(np.nan, frame.index)
        )
        bad = (
            values.isna() | ~np.isfinite(values) if column in ("x", "y") else (values < 0) | np.isinf(values)
        )
        if column in frame and bad.any():
            rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:5])
            problems.append(
                Problem(
                    table,
                    f"column {column}: not a finite{' non-negative' if column == 'duration' else ''}"
                    f" number on line(s) {rows}",
                )
            )
        numeric[column] = values.to_numpy(dtype=np.float64)
    if any(p.file == table for p in problems):
        return {}
    observers = frame["observer"].astype(str).to_numpy() if "observer" in frame else np.full(len(frame), "")
    stems = frame["image"].astype(str).map(lambda v: PurePosixPath(v.strip()).stem).to_numpy()
    found = {}
    for stem in sorted(set(stems)):
        rows = np.flatnonzero(stems == stem)
        stimulus = stimuli.get(stem)
        if stimulus is None:
            if stem not in layout.stimuli:
                problems.append(Problem(table, f"image {stem!r} has no stimulus of the same name"))
            continue
        points = np.column_stack([numeric["x"][rows], numeric["y"][rows]])
        try:
            fixation_pixels(points, (stimulus.height, stimulus.width))
        except AnalysisError as error:
            problems.append(Problem(table, f"image {stem!r}: {error}"))
            continue
        found[stem] = {
            "x": points[:, 0],
            "y": points[:, 1],
            "duration": numeric["duration"][rows],
            "start_time": numeric["start_time"][rows],
            "observer": observers[rows],
            "_source": table,
        }
    return found


def _stage_map(staging: Path, density: np.ndarray) -> tuple[Path, Path]:
    buffer = io.BytesIO()
    np.save(buffer, density, allow_pickle=False)
    return _write(staging, buffer.getvalue(), ".npy"), _write(staging, preview_png(density), ".png")


def preview_png(values: np.ndarray, size: tuple[int, int] | None = None) -> bytes:
    """PNG of a map `(H, W)` >= 0 scaled to its maximum and coloured with inferno, resized
    (bilinear) to `size` = (width, height), or reduced so that its longest side is at most 512 px."""
    image = Image.fromarray(np.asarray(values, dtype=np.float32), mode="F")
    if size is None:
        image = image.reduce(math.ceil(max(image.size) / PREVIEW_MAX_SIDE))  # box filter, integer factor
    elif size != image.size:
        image = image.resize(size, Image.BILINEAR)
    resized = np.asarray(image)
    index = np.clip(resized * (255.0 / max(float(resized.max()), 1e-30)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(_INFERNO[index]).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


_INFERNO = (colormaps["inferno"](np.arange(256))[:, :3] * 255).round().astype(np.uint8)


def _npz(columns: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x=columns["x"].astype(np.float64),
        y=columns["y"].astype(np.float64),
        duration=columns["duration"].astype(np.float64),
        start_time=columns["start_time"].astype(np.float64),
        observer=columns["observer"].astype(str),
    )
    return buffer.getvalue()


def _write(staging: Path, data: bytes, suffix: str = "") -> Path:
    """Write `data` to the staging folder as SHA256-N (its sha256 names it in MEDIA_ROOT)."""
    path = _staged_path(staging, hashlib.sha256(data).hexdigest(), suffix)
    path.write_bytes(data)
    return path


def _staged_path(staging: Path, sha256: str, suffix: str = "") -> Path:
    return staging / f"{sha256}-{next(_staged_numbers)}{suffix}"


def _copy_entry(entry: Callable[[], bytes], path: Path) -> str:
    """Write a source's entry to `path`, in chunks when it has `copy_to`; returns its sha256 hex."""
    if isinstance(entry, (FileEntry, ZipEntry)):
        return entry.copy_to(path)
    data = entry()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


_staged_numbers = itertools.count()


# ---------------------------------------------------------------------------------------------
# Storage


def _store(name: str, staged: list[_Staged], provenance: dict, options: ImportOptions) -> GazeDataset:
    written: list[Path] = []
    media = Path(settings.MEDIA_ROOT)

    def place(source: Path, folder: str, stem: str, suffix: str) -> str:
        relative = f"gaze/{name}/{folder}/{stem}-{source.name[:16]}{suffix.lower()}"
        final = media / relative
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            partial = final.with_name(final.name + ".part")
            shutil.move(source, partial)  # a rename when staging and MEDIA_ROOT share a file system
            written.append(partial)
            os.replace(partial, final)
            written.append(final)
        return relative

    try:
        with transaction.atomic():
            dataset = GazeDataset.objects.create(
                name=name,
                description=options.description,
                task=options.task,
                n_observers=options.n_observers,
                pixels_per_degree=options.pixels_per_degree,
                sigma_px=provenance["sigma_px"],
                owner_id=options.owner_id,
                source_format=provenance["source_format"],
                provenance=provenance,
            )
            stimuli = GazeStimulus.objects.bulk_create(
                [
                    GazeStimulus(
                        dataset=dataset,
                        name=s.name,
                        width=s.width,
                        height=s.height,
                        sha256=s.image[2],
                        image=place(s.image[0], "stimuli", s.name, PurePosixPath(s.image[1]).suffix),
                    )
                    for s in staged
                ]
            )
            GazeMap.objects.bulk_create(
                [
                    GazeMap(
                        stimulus=row,
                        array=place(s.map[0], "maps", s.name, ".npy"),
                        preview=place(s.map[1], "previews", s.name, ".png"),
                        source_name=s.map[2],
                        source_sha256=s.map[3],
                    )
                    for row, s in zip(stimuli, staged)
                    if s.map
                ]
            )
            GazeFixations.objects.bulk_create(
                [
                    GazeFixations(
                        stimulus=row,
                        array=place(s.fixations[0], "fixations", s.name, ".npz"),
                        count=s.fixations[1],
                        source_name=s.fixations[2],
                        source_sha256=s.fixations[3],
                    )
                    for row, s in zip(stimuli, staged)
                    if s.fixations
                ]
            )
    except BaseException as error:
        for path in written:
            path.unlink(missing_ok=True)
        _remove_empty(media / "gaze" / name)
        if isinstance(error, (DatabaseError, OSError)):
            raise GazeImportError([Problem(name, f"could not be stored ({error})")]) from error
        raise
    return dataset


def _remove_empty(folder: Path) -> None:
    """Remove the empty folders under `folder`, and `folder` itself if it ends up empty."""
    for directory in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)) + [folder]:
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
