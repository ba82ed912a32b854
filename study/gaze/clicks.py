"""A study's clicks (the BubbleView "attention" design, or an attention block before another design's
questions) as a gaze data set of source format "clicks".

Each answered trial of a completed, non-preview participant carries `details = {"clicks": [[x, y, t_ms],
...], "width": W, "height": H}`: pixel coordinates in the item's W x H image and milliseconds since the
page was shown. The clicks are handed to the gaze importer as a source of its own layout (stimuli/ = the
items' images, fixations.csv = one row per click, observer = the participant's id, start_time = t_ms),
so that their GFDMs come from the same kernel (analysis.gfdm.density_from_fixations, sigma from the
options) and are stored as imported fixations are: checked first, then one transaction, files renamed
into place.
"""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from study.archives import Problem
from study.gaze.importer import GazeImportError, import_gaze
from study.gaze.options import ImportOptions
from study.models import GazeDataset, Participant, Study
from study.survey.designs.attention import click_trials


def clicks_table(study: Study) -> tuple[pd.DataFrame, dict[str, bytes]]:
    """The clicks of `study`'s completed, non-preview participants: a fixation table (image, x, y,
    start_time, observer; image = the item's name stem plus its image's suffix) and the image bytes by
    that name. Clicks are rescaled from the trial's W x H to the image's size; one that would round to a
    pixel outside the image (the last half pixel) is moved onto its nearest pixel. Raises GazeImportError
    without any click."""
    trials = (
        click_trials(study).filter(participant__is_preview=False, answered_at__isnull=False,
                                   participant__status=Participant.Status.COMPLETED)
        .select_related("item").order_by("item__position", "participant_id")
    )
    frames, images = [], {}
    for trial in trials:
        clicks = np.asarray(trial.details.get("clicks") or [], dtype=np.float64).reshape(-1, 3)
        if not len(clicks):
            continue
        item = trial.item
        name = PurePosixPath(item.name).stem + PurePosixPath(item.image.name).suffix.lower()
        if name not in images:
            with item.image.open("rb") as file:
                images[name] = file.read()
        with Image.open(io.BytesIO(images[name])) as image:
            width, height = image.size
        scale = np.array([width / trial.details["width"], height / trial.details["height"]])
        points, limit = clicks[:, :2] * scale, np.array([width - 1, height - 1])
        outside = (np.rint(points) < 0) | (np.rint(points) > limit)
        points = np.where(outside, np.clip(points, 0, limit), points)
        frames.append(pd.DataFrame({"image": name, "x": points[:, 0], "y": points[:, 1],
                                    "start_time": clicks[:, 2], "observer": str(trial.participant_id)}))
    if not frames:
        raise GazeImportError.of([Problem(study.slug, "no clicks of completed participants to import")])
    return pd.concat(frames, ignore_index=True), images


def clicks_dataset(study: Study, name: str | None = None, options: ImportOptions = ImportOptions(),
                   origin: dict | None = None) -> GazeDataset:
    """Import the clicks of `study` as gaze data set `name` (default "<slug>-clicks"), one stimulus per
    clicked item; `options` must give sigma_px or pixels_per_degree; `origin` adds to its provenance (e.g.
    the job that made it). Raises GazeImportError."""
    table, images = clicks_table(study)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)  # floats written as repr: read back exactly
    entries = {f"stimuli/{image}": (lambda data=data: data) for image, data in images.items()}
    entries["fixations.csv"] = lambda: buffer.getvalue().encode()
    if options.n_observers is None:
        options = replace(options, n_observers=int(table["observer"].nunique()))
    return import_gaze(name or f"{study.slug}-clicks", entries, options,
                       origin={"source_format": GazeDataset.SourceFormat.CLICKS.value, "study": study.slug,
                               **(origin or {})})
