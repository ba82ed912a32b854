"""Fixations of a gaze source: a fixation table (CSV/TSV) and MIT1003's binary fixation maps (.mat)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
import scipy.io

from analysis.errors import AnalysisError
from analysis.gfdm import fixation_pixels, points_from_fixation_map
from study.archives import Problem
from study.gaze.layout import TABLE_SEPARATORS, Layout
from study.gaze.staging import Staged


def read_fixations(
    layout: Layout, stimuli: dict[str, Staged], read: Callable[[str], bytes | None], problems: list[Problem]
) -> dict[str, dict]:
    """Fixation columns per stimulus name (x, y, duration, start_time, observer: arrays of one length, and
    _source: the file they came from), from the table and the .mat fixation-location files; `read(path)`
    gives an entry's bytes, or None once it has noted why it cannot."""
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
    table: str, data: bytes, stimuli: dict[str, Staged], layout: Layout, problems: list[Problem]
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
