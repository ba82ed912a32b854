"""A "build_study" job's work: its params as a `BuildRequest`, the uploaded data-set zip unpacked into a
staging folder under TMP_DIR for the build and removed after it, and a failure told in the researcher's
words: their files by the names they uploaded, not by the worker's folders."""
from __future__ import annotations

import tempfile
from pathlib import Path

from explainers.pv import DecoderQuality
from study.building.build import build_study
from study.building.builder import unpack_dataset
from study.building.request import BuildError, BuildRequest
from study.jobs import JobCancelled
from study.models import Study
from study.progress import Report
from study.tmp import tmp_dir


def build_from_job(params: dict, upload: Path, staging_prefix: str, report: Report) -> Study:
    """Build the study of a job's `params`: BuildRequest fields (JSON: lists, strings for paths), with
    `dataset` a folder the worker reads, or `archive` a zip in the job's `upload` folder, named
    `archive_name` in messages and unpacked into a folder named `staging_prefix...` under TMP_DIR. The
    zip is removed once built; an uploaded checkpoint stays (the study's model spec names it). A failed
    build raises BuildError naming the uploaded files as the researcher named them."""
    p = dict(params)
    archive, label = p.pop("archive", None), p.pop("archive_name", "")
    with tempfile.TemporaryDirectory(prefix=staging_prefix, dir=tmp_dir()) as staging:
        unpacked = Path(staging) / "dataset"
        if archive:
            report(0, 1, f"unpacking {label}")
            p["dataset"] = unpack_dataset(upload / archive, unpacked, label)
        p["dataset"] = Path(p["dataset"])
        p["decoder"] = Path(p["decoder"]) if p.get("decoder") else None
        p["arms"] = tuple(p.get("arms", ("gradcam", "pv")))
        p["attention_positions"] = tuple(p.get("attention_positions", ()))
        p["distractor_classes"] = tuple(p.get("distractor_classes", ()))
        report(0, 1, "building the study")
        # what the researcher calls the worker's folders, a file in the data set as "<zip>: <its path>"
        their_names = {f"{unpacked}/": f"{label}: ", str(unpacked): label, f"{upload}/": ""}
        try:
            study = build_study(BuildRequest(**p), progress=False, report=report)
        except JobCancelled:
            raise
        except Exception as error:
            raise BuildError(_renamed(str(error), their_names)) from error
        if archive:
            (upload / archive).unlink(missing_ok=True)
    return study


def _renamed(text: str, names: dict[str, str]) -> str:
    """`text` with each path of `names` (in order) replaced by its name."""
    for path, name in names.items():
        text = text.replace(path, name)
    return text


def decoder_quality(study: Study) -> str | None:
    """How well the PV decoder the build used reconstructs held-out images, in one line; None without one."""
    if not study.provenance.get("decoder"):
        return None
    return DecoderQuality.from_dict(study.provenance["decoder"]["quality"]).summary()
