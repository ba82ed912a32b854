"""A gaze import's options (what the researcher says of the data set) and what in them the database
would refuse."""
from __future__ import annotations

import math
from dataclasses import dataclass

from study.archives import Problem
from study.models import GazeDataset

# Database limits, the stricter of SQLite and PostgreSQL: PostgreSQL's integer, its varchar lengths,
# no NUL character in text (PostgreSQL refuses it), finite floats (JSON has no Infinity or NaN).
MAX_INTEGER = 2**31 - 1
MAX_DESCRIPTION_CHARS = 20_000


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
