"""The study builder page's work: store the uploads in a new "build_study" job's folder and queue the job;
the job unpacks the zip (safe names, size limit) and calls `build_study`.

The request only checks the form (study.building.forms.StudyBuilderForm) and moves the streamed uploads; every
check of the data (labels, images, the checkpoint) runs in the job, and its error names the file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from explainers import BUNDLED
from study.archives import UNREADABLE, unpacked_limit, zip_entries
from study.building.datasets import DatasetError
from study.models import Job
from study.uploads import enqueue_with_uploads

ARCHIVE = "dataset.zip"
MODEL_SPEC = "model.json"
DECODER = "decoder.pt"


def build_claim(slug: str) -> str:
    """What a build job holds while queued or running: its slug, so that a second build of it is refused."""
    return f"study:{slug}"


def start_build(data: dict, user) -> Job:
    """Queue a build of the cleaned builder form `data` owned by `user`; the uploads are moved into the
    job's folder (no upload is read into memory) before the job is sent to the workers. study.jobs.JobClaimed
    when another build of the slug is queued or running."""
    params = {
        "slug": data["slug"], "title": data["title"], "arms": list(data["arms"]),
        "design": data["design"], "design_options": data["design_options"],
        "attention_block": data["attention_block"],
        "rendering": data["rendering"], "n_correct": data["n_correct"], "n_incorrect": data["n_incorrect"],
        "seed": data["seed"], "attention_checks": data["attention_checks"],
        "attention_positions": list(data["attention_positions"]), "owner_id": user.pk,
        "confidence_rating": data["confidence_rating"], "questionnaire": data["questionnaire"],
        "distractors": data["distractors"], "distractor_classes": list(data["distractor_classes"]),
        "archive": ARCHIVE, "archive_name": data["dataset"].name,
        "decoder_layer": data["decoder_layer"].strip(),
    }
    uploads = {ARCHIVE: data["dataset"]}
    if data.get("decoder"):  # read by the job with torch.load(weights_only=True) (load_decoder)
        uploads[DECODER] = data["decoder"]
    if data["model"] != BUNDLED:
        uploads |= {"checkpoint.pt": data["checkpoint"], "classes.txt": data["class_names"]}

    def name_files(job: Job, folder: Path) -> None:
        if data.get("decoder"):
            job.params["decoder"] = str(folder / DECODER)
        if data["model"] == BUNDLED:
            job.params["model"] = BUNDLED
        else:
            spec = {"arch": data["model"], "checkpoint": "checkpoint.pt", "class_names": "classes.txt",
                    "num_classes": count_class_names(folder / "classes.txt"),
                    "input_size": data["input_size"], "multi_label": data["multi_label"],
                    "threshold": data["threshold"]}
            (folder / MODEL_SPEC).write_text(json.dumps(spec, indent=2))
            job.params["model"] = str(folder / MODEL_SPEC)
        job.save(update_fields=["params"])

    return enqueue_with_uploads("build_study", params, user, uploads, claim=build_claim(data["slug"]),
                                then=name_files)


def count_class_names(path: Path) -> int:
    """The number of non-empty lines of a class-name file (0 when it is not UTF-8 text: the job says why)."""
    try:
        return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    except UnicodeDecodeError:
        return 0


def unpack_dataset(archive: Path, folder: Path, label: str) -> Path:
    """Unpack the data-set zip into `folder` (emptied first), each entry streamed to disk in chunks, and
    return the data set's root: the folder, or its only top-level sub-folder. DatasetError naming `label`
    (the researcher's file name) and the entry when unsafe, too large or corrupt; then `folder` is removed."""
    shutil.rmtree(folder, ignore_errors=True)
    try:
        with zip_entries(archive, label, unpacked_limit(), DatasetError) as entries:
            for name, entry in entries.items():
                target = folder / name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    entry.copy_to(target)
                except UNREADABLE as error:
                    raise DatasetError(f"{label}: {name}: {error}") from error
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    top = [p for p in folder.iterdir()] if folder.is_dir() else []
    if not top:
        raise DatasetError(f"{label}: the archive holds no files")
    return top[0] if len(top) == 1 and top[0].is_dir() else folder
