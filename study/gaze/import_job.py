"""A "gaze_import" job's work: import the folder or zip its params name, or what a researcher uploaded
into the job's folder, staging under TMP_DIR in a folder named after the job's run."""
from __future__ import annotations

import shutil
from pathlib import Path

from study.archives import unpacked_limit, zip_entries
from study.gaze.importer import GazeImportError, import_gaze, import_gaze_path
from study.gaze.options import ImportOptions
from study.models import GazeDataset
from study.progress import Report


def import_from_job(params: dict, upload: Path, staging_prefix: str, report: Report) -> GazeDataset:
    """Import data set `params["name"]` with `params["options"]` (ImportOptions fields) from
    `params["path"]` (a folder or zip the worker reads) or `params["upload"]` (a name in the job's `upload`
    folder: a zip named `archive_name` in messages as the researcher named it, or a folder), that folder
    being removed once imported. The staging folder under TMP_DIR is named `staging_prefix...`;
    GazeImportError listing every problem."""
    options = ImportOptions(**params.get("options", {}))
    report(0, 1, "checking and importing the data set")
    name = params["name"]
    if params.get("archive_name"):
        with zip_entries(upload / params["upload"], params["archive_name"], unpacked_limit(),
                         GazeImportError) as entries:
            dataset = import_gaze(name, entries, options, report=report, staging_prefix=staging_prefix)
    else:
        source = upload / params["upload"] if params.get("upload") else Path(params["path"])
        dataset = import_gaze_path(name, source, options, report=report, staging_prefix=staging_prefix)
    if params.get("upload"):
        shutil.rmtree(upload, ignore_errors=True)
    return dataset
