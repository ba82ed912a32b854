"""A "gaze_report" job's work: the images its shards precompute maps for (the data set's stimuli that
have a gaze map), then the report on them."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings

from study.gaze.report import GazeReport, gaze_report
from study.models import GazeDataset
from study.progress import Report


def report_images(dataset: str) -> list[str]:
    """The image files of data set `dataset`'s stimuli that have a gaze map, by stimulus name."""
    rows = GazeDataset.objects.get(name=dataset).stimuli.select_related("gaze_map").order_by("name")
    return [row.image.path for row in rows if hasattr(row, "gaze_map")]


def report_from_job(params: dict, folder: Path, report: Report) -> GazeReport:
    """Write the gaze report of `params` ({dataset, model, methods, device, batch_size}) into `folder`,
    its maps read from the cache the shards filled."""
    dataset = GazeDataset.objects.get(name=params["dataset"])
    report(0, 1, "scoring the maps against the GFDMs")
    return gaze_report(dataset, params["model"], params["methods"], folder,
                       device=params.get("device", settings.JOB_DEVICE),
                       batch_size=params.get("batch_size", 32), report=report)
