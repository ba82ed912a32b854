"""Phase 1 of a gaze import: each file of the source checked and written, as it will be stored, into a
private staging folder under TMP_DIR, on threads; every problem is noted, none stops the others."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from analysis.errors import AnalysisError
from analysis.gfdm import density_from_fixations
from study.archives import UNREADABLE, Entries, Problem, copy_entry
from study.gaze.maps import MapError, preview_png, read_density
from study.progress import Report

IMPORT_THREADS = min(8, os.cpu_count() or 1)


@dataclass
class Staged:
    """One stimulus, checked, with its files written to the staging folder."""

    name: str
    width: int
    height: int
    image: tuple[Path, str, str]  # (staged file, source name, source sha256)
    map: tuple[Path, Path, str, str] | None = None  # (array, preview, source name, source sha256)
    fixations: tuple[Path, int, str, str] | None = None  # (array, count, source name, source sha256)


@dataclass
class Staging:
    """The checks of one import's `entries` into the staging `folder`: the stimuli staged so far by name, the
    sha256 of each entry read by path (`hashes`) and every problem found. Each `add_*` call touches only its
    own stimulus, so that `each` may run them on threads."""

    entries: Entries
    folder: Path
    problems: list[Problem]
    hashes: dict[str, str] = field(default_factory=dict)
    stimuli: dict[str, Staged] = field(default_factory=dict)

    def read(self, path: str) -> bytes | None:
        """The entry's bytes (its sha256 noted), or None with the problem noted."""
        try:
            data = self.entries[path]()
        except UNREADABLE as error:
            self.problems.append(Problem(path, f"unreadable ({error})"))
            return None
        self.hashes[path] = hashlib.sha256(data).hexdigest()
        return data

    def copy(self, path: str) -> Path | None:
        """The entry written to the staging folder (in chunks where the source can), named by its sha256;
        None with the problem noted."""
        partial = self.folder / f"partial-{next(_staged_numbers)}"
        try:
            self.hashes[path] = copy_entry(self.entries[path], partial)
        except UNREADABLE as error:
            self.problems.append(Problem(path, f"unreadable ({error})"))
            return None
        return partial.rename(self._path(self.hashes[path]))

    def add_stimulus(self, stem: str, path: str) -> None:
        """Stage the stimulus image at `path` as stimulus `stem` if it is a readable image."""
        staged = self.copy(path)
        if staged is None:
            return
        try:
            with Image.open(staged) as image:
                image.load()
                width, height = image.size
        except Exception as error:  # PIL raises many types for broken files
            self.problems.append(Problem(path, f"unreadable image ({error})"))
            return
        self.stimuli[stem] = Staged(stem, width, height, (staged, path, self.hashes[path]))

    def add_map(self, stem: str, path: str, resample: bool) -> None:
        """Stage the density map at `path` for stimulus `stem` (if it was staged), resized to the stimulus
        when `resample`."""
        stimulus = self.stimuli.get(stem)
        data = self.read(path) if stimulus else None
        if data is None:
            return
        try:
            density = read_density(path, data, (stimulus.height, stimulus.width), resample)
        except MapError as error:
            self.problems.append(Problem(path, str(error)))
            return
        stimulus.map = (*self._density(density), path, self.hashes[path])

    def add_fixations(self, stem: str, columns: dict, sigma: float | None, weigh_by_duration: bool) -> None:
        """Stage the fixation `columns` of stimulus `stem` (fixations.read_fixations' shape) and, when the
        stimulus has no map and `sigma` (pixels) is known, the GFDM made from them."""
        stimulus, source_name = self.stimuli[stem], columns.pop("_source")
        stimulus.fixations = (self._write(_npz(columns)), len(columns["x"]), source_name,
                              self.hashes[source_name])
        if stimulus.map is None and sigma is not None:
            weights = columns["duration"] if weigh_by_duration else None
            try:
                density = density_from_fixations(np.column_stack([columns["x"], columns["y"]]),
                                                 (stimulus.height, stimulus.width), sigma, weights)
            except AnalysisError as error:
                self.problems.append(Problem(source_name, f"{stem}: {error}"))
                return
            stimulus.map = (*self._density(density), source_name, self.hashes[source_name])

    def _density(self, density: np.ndarray) -> tuple[Path, Path]:
        """Stage a GFDM `(H, W)` as .npy with its PNG preview."""
        buffer = io.BytesIO()
        np.save(buffer, density, allow_pickle=False)
        return self._write(buffer.getvalue(), ".npy"), self._write(preview_png(density), ".png")

    def _write(self, data: bytes, suffix: str = "") -> Path:
        """Write `data` to the staging folder as SHA256-N (its sha256 names it in MEDIA_ROOT)."""
        path = self._path(hashlib.sha256(data).hexdigest(), suffix)
        path.write_bytes(data)
        return path

    def _path(self, sha256: str, suffix: str = "") -> Path:
        return self.folder / f"{sha256}-{next(_staged_numbers)}{suffix}"


_staged_numbers = itertools.count()


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


def each(
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
