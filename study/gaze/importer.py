"""Import a gaze data set, all or nothing.

A source (a folder, a zip archive or uploaded files) is laid out like the MIT1003 sample:

    stimuli/NAME.jpg              the images shown to observers (any of explainers.images.IMAGE_SUFFIXES)
    fixation_maps/NAME.png        GFDMs: 8/16-bit grayscale PNG/JPEG/TIFF, or .npy/.npz float arrays
    fixations.csv (or .tsv)       optional fixation table: image, x, y[, duration, observer, start_time]
    fixation_points/NAME_fixation_locations.mat   optional binary fixation map (MIT1003: `fixations`),
                                  with NAME.jpg / NAME_fixation_map.jpg beside it if NAME is not in stimuli/

Everything is read and checked first (phase 1, study.gaze.staging, into a private folder under
settings.TMP_DIR); any problem raises one `GazeImportError` listing every file and what is wrong with it,
and nothing is stored. Then (phase 2, study.gaze.store) one transaction creates the rows, and each file is
copied into MEDIA_ROOT under a temporary name and renamed; if the transaction fails, the files written are
removed again. Sources are read by study.archives (folder_entries, zip_entries, open_source).
"""

from __future__ import annotations

import re
import tempfile
from functools import partial
from pathlib import Path

from django.db import DatabaseError

from analysis.gfdm import sigma_from_ppd
from study.archives import ArchiveError, Entries, Problem, open_source
from study.gaze.fixations import read_fixations
from study.gaze.layout import Layout
from study.gaze.options import ImportOptions, option_problems
from study.gaze.staging import Staged, Staging, each
from study.gaze.store import store_dataset
from study.models import GazeDataset
from study.progress import Report, silent
from study.tmp import tmp_dir

class GazeImportError(ArchiveError):
    """The source cannot be imported; `problems` lists every file and what is wrong with it (raise it with
    `GazeImportError.of(problems)`)."""

    @staticmethod
    def describe(problems: tuple[Problem, ...]) -> str:
        """Their count, that nothing was imported, then one line each."""
        lines = "\n".join(f"  {p}" for p in problems)
        return f"{len(problems)} problem(s), nothing was imported:\n{lines}"


def import_gaze_path(
    name: str, path: Path, options: ImportOptions = ImportOptions(), *, progress: bool = False,
    report: Report = silent, staging_prefix: str = "gaze-import-",
) -> GazeDataset:
    """Import the folder or zip archive at `path` as data set `name`; raises `GazeImportError`."""
    with open_source(path, GazeImportError) as entries:
        return import_gaze(name, entries, options, progress=progress, report=report,
                           staging_prefix=staging_prefix)


def import_gaze(
    name: str, entries: Entries, options: ImportOptions = ImportOptions(), *, progress: bool = False,
    report: Report = silent, staging_prefix: str = "gaze-import-", origin: dict | None = None,
) -> GazeDataset:
    """Check every entry, then store the data set in one transaction; raises `GazeImportError`
    listing every problem, in which case the database and MEDIA_ROOT are left as they were.
    `report` hears each file checked; the staging folder under TMP_DIR is named `staging_prefix...`
    (a job names itself there, see study.jobs.staging_prefix). `origin` updates the provenance
    (e.g. study.gaze.clicks: {"source_format": "clicks", "study": slug})."""
    with tempfile.TemporaryDirectory(prefix=staging_prefix, dir=tmp_dir()) as staging:
        staged, provenance = _stage(name, entries, options, Path(staging), progress, report)
        provenance.update(origin or {})
        try:
            return store_dataset(name, staged, provenance, options)
        except (DatabaseError, OSError) as error:
            raise GazeImportError.of([Problem(name, f"could not be stored ({error})")]) from error


def _stage(
    name: str, entries: Entries, options: ImportOptions, staging: Path, progress: bool, report: Report
) -> tuple[list[Staged], dict]:
    """Check every entry into the folder `staging`: the stimuli sorted by name and the provenance of the
    data set; raises `GazeImportError` listing every problem."""
    files = Staging(entries, staging, [*_name_problems(name), *option_problems(options)])
    problems = files.problems
    layout = Layout.of(entries, problems)
    each(files.add_stimulus, layout.stimuli, "stimuli", progress, report)

    fixations = read_fixations(layout, files.stimuli, files.read, problems)
    usable = not option_problems(options)
    sigma = options.sigma_px or (
        sigma_from_ppd(options.pixels_per_degree) if options.pixels_per_degree and usable else None
    )
    if fixations and sigma is None and set(fixations) - set(layout.maps):
        problems.append(
            Problem(
                next(iter(layout.tables), "fixations"),
                "building GFDMs from fixations needs a sigma in pixels or pixels per degree",
            )
        )
    for stem in sorted(set(layout.maps) - set(files.stimuli) - set(layout.stimuli)):
        problems.append(Problem(layout.maps[stem], "no stimulus of the same name"))

    each(partial(files.add_map, resample=options.resample), layout.maps, "maps", progress, report)
    each(partial(files.add_fixations, sigma=sigma, weigh_by_duration=options.weight_by_duration), fixations,
         "fixations", progress, report)
    for stem, stimulus in files.stimuli.items():
        if stimulus.map is None and stimulus.fixations is None and stem not in layout.maps:
            problems.append(Problem(stimulus.image[1], "stimulus has no density map and no fixations"))

    if not layout.stimuli and not problems:
        problems.append(Problem("stimuli/", "no stimuli found"))
    if problems:
        raise GazeImportError.of(sorted(problems, key=lambda p: p.file))
    fmt = "maps+fixations" if layout.maps and fixations else "maps" if layout.maps else "fixations"
    provenance = {
        "files": dict(sorted(files.hashes.items())),
        "source_format": fmt,
        "sigma_px": sigma,
        "resample": options.resample,
        "weight_by_duration": options.weight_by_duration,
    }
    return sorted(files.stimuli.values(), key=lambda s: s.name), provenance


def _name_problems(name: str) -> list[Problem]:
    """Why `name` cannot name a new data set (its letters, or an existing one), if it cannot."""
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,100}", name or ""):
        return [Problem(name or "(name)", "data set name must be 1-100 letters, digits, '-' or '_'")]
    if GazeDataset.objects.filter(name=name).exists():
        return [Problem(name, "a gaze data set of this name exists already")]
    return []
