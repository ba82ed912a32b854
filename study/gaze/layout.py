"""Which entry of a gaze source is which: the layout of the MIT1003 sample, found at the top of the source
or one folder down (a zipped folder), and the file names that cannot be stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from explainers.images import IMAGE_SUFFIXES
from study.archives import Entries, Problem

# A density map: a greyscale image (lossless or not) or a NumPy array; stimuli are any image (IMAGE_SUFFIXES).
MAP_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".npz"}
TABLE_SEPARATORS = {".csv": ",", ".tsv": "\t"}
MAX_PATH_CHARS = 255  # GazeMap.source_name and friends
MAX_STEM_BYTES = 200  # stored as "<stem>-<16 hex>.<suffix>": within the usual 255-byte file name limit


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
class Layout:
    """Which entry is which: stimuli, maps, fixation tables and MIT1003 fixation-location files."""

    stimuli: dict[str, str] = field(default_factory=dict)
    maps: dict[str, str] = field(default_factory=dict)
    tables: list[str] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Entries, problems: list[Problem]) -> Layout:
        """The layout of `entries` (paths only: nothing is read), each problem with it noted in `problems`."""
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
