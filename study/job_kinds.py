"""The kinds of job, one entry each: a new kind (e.g. an explainer evaluation) is one `register` call.

Each calls the same service function as its management command. Split kinds (precompute, gaze report)
cut their images into shards of JOB_SHARD_IMAGES for the `gpu` queue."""
from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from study.jobs import UPLOAD, JobCancelled, JobError, JobKind, output_dir, register, staging_prefix
from study.tmp import tmp_dir

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@functools.lru_cache(maxsize=4)
def _model(spec: str):
    """A model loaded once per worker process (shards of one job share it)."""
    import explainers

    return explainers.load_model(spec)


def _files(job, paths) -> dict[str, str]:
    """Download links of the files a job wrote into its files/ folder."""
    return {Path(p).name: reverse("job-file", args=[job.pk, Path(p).name]) for p in paths}


def _shards(paths: list[str]) -> list[dict]:
    size = settings.JOB_SHARD_IMAGES
    return [{"images": paths[start:start + size]} for start in range(0, len(paths), size)]


def _precompute_shard(job, shard: dict, report) -> None:
    from explainers.precompute import precompute

    p = job.params
    precompute(_model(p["model"]), shard["images"], p["methods"], p.get("targets", "predicted"),
               p.get("batch_size", 32), p.get("device", settings.JOB_DEVICE), settings.EXPLAINER_CACHE_DIR,
               params=p.get("params"), progress=False, on_batch=lambda done, total: report(done, total))


# ---------------------------------------------------------------------------------------------
# gaze import: params {name, options: ImportOptions fields, and path (a folder or zip the worker can
# read) or upload (a name under the job's folder, removed once imported; archive_name for a zip)}


def _gaze_import(job, report) -> dict:
    from study.archives import unpacked_limit, zip_entries
    from study.gaze.importer import ImportOptions, import_gaze, import_gaze_path

    p = job.params
    options = ImportOptions(**p.get("options", {}))
    report(0, 1, "checking and importing the data set")
    staging = staging_prefix(job, "gaze-import")
    if p.get("archive_name"):  # an uploaded zip, named in messages as the researcher named it
        archive = output_dir(job) / UPLOAD / p["upload"]
        with zip_entries(archive, p["archive_name"], unpacked_limit()) as entries:
            dataset = import_gaze(p["name"], entries, options, report=report, staging_prefix=staging)
    else:
        dataset = import_gaze_path(p["name"], output_dir(job) / UPLOAD / p["upload"] if p.get("upload")
                                   else Path(p["path"]), options, report=report, staging_prefix=staging)
    if p.get("upload"):
        shutil.rmtree(output_dir(job) / UPLOAD, ignore_errors=True)
    return {"data set": reverse("gaze-dataset", args=[dataset.name])}


# ---------------------------------------------------------------------------------------------
# gaze report: params {dataset, model, methods, device, batch_size}


def _gaze_rows(job):
    from study.models import GazeDataset

    dataset = GazeDataset.objects.get(name=job.params["dataset"])
    rows = dataset.stimuli.select_related("gaze_map").order_by("name")
    return dataset, [row for row in rows if hasattr(row, "gaze_map")]


def _gaze_report_plan(job) -> list[dict]:
    return _shards([row.image.path for row in _gaze_rows(job)[1]])


def _gaze_report_finish(job, report) -> dict:
    from study.gaze.report import gaze_report

    p = job.params
    dataset, _ = _gaze_rows(job)
    report(0, 1, "scoring the maps against the GFDMs")
    result = gaze_report(dataset, p["model"], p["methods"], output_dir(job) / "files",
                         device=p.get("device", settings.JOB_DEVICE), batch_size=p.get("batch_size", 32),
                         report=report)
    return {"data set": reverse("gaze-dataset", args=[dataset.name]), **_files(job, result.files)}


# ---------------------------------------------------------------------------------------------
# precompute: params {model, methods, targets, params (per method), batch_size, device, and folder (a
# folder the workers can read) or study (a study's item images)}


def precompute_images(params: dict) -> list[str]:
    """The image files a precompute job covers, sorted."""
    if params.get("study"):
        from study.models import Item

        items = Item.objects.filter(study__slug=params["study"]).order_by("position")
        images = [item.image.path for item in items]
        if not images:
            raise JobError(f"no study {params['study']!r} with items")
        return images
    folder = Path(params["folder"])
    images = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise JobError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {folder}")
    return images


# ---------------------------------------------------------------------------------------------
# study build: params = study.building.build.BuildRequest fields; analysis: params {study}


def _build_study(job, report) -> dict:
    """params: BuildRequest fields, with `dataset` a folder the worker reads, or `archive` (a zip under the
    job's upload/ folder, named `archive_name` in messages) unpacked into a staging folder under TMP_DIR
    for the build and removed after it."""
    from explainers.pv import DecoderQuality
    from study.building.build import BuildRequest, build_study
    from study.building.builder import unpack_dataset

    p = dict(job.params)
    archive, label = p.pop("archive", None), p.pop("archive_name", "")
    with tempfile.TemporaryDirectory(prefix=staging_prefix(job, "build"), dir=tmp_dir()) as staging:
        unpacked = Path(staging) / "dataset"
        if archive:
            report(0, 1, f"unpacking {label}")
            p["dataset"] = unpack_dataset(output_dir(job) / UPLOAD / archive, unpacked, label)
        p["dataset"] = Path(p["dataset"])
        p["decoder"] = Path(p["decoder"]) if p.get("decoder") else None
        p["arms"] = tuple(p.get("arms", ("gradcam", "pv")))
        p["attention_positions"] = tuple(p.get("attention_positions", ()))
        p["distractor_classes"] = tuple(p.get("distractor_classes", ()))
        report(0, 1, "building the study")
        try:
            study = build_study(BuildRequest(**p), progress=False, report=report)
        except JobCancelled:
            raise
        except Exception as error:  # name the researcher's files, not the worker's folders
            raise JobError(str(error).replace(f"{unpacked}/", f"{label}: ").replace(str(unpacked), label)
                           .replace(f"{output_dir(job) / UPLOAD}/", "")) from error
        # Built: the images are in the media store now. An uploaded checkpoint stays (the study's model
        # spec names it); the data-set zip goes.
        if archive:
            (output_dir(job) / UPLOAD / archive).unlink(missing_ok=True)
    result = {"study": reverse("researcher-dashboard", args=[study.slug])}
    if study.provenance.get("decoder"):
        quality = DecoderQuality.from_dict(study.provenance["decoder"]["quality"])
        result["PV decoder quality"] = quality.summary()
    return result


def _analysis(job, report) -> dict:
    from analysis.reports import write_simulatability_report
    from study.models import Study
    from study.building.options import describe_distractors
    from study.research.export import participants_dataframe, questionnaire_dataframe, trials_dataframe

    study = Study.objects.get(slug=job.params["study"])
    report(0, 1, "analysing the answers")
    paths = write_simulatability_report(trials_dataframe(study), participants_dataframe(study),
                                        output_dir(job) / "files", method=job.params.get("method", "auto"),
                                        questionnaire=questionnaire_dataframe(study),
                                        notes=[describe_distractors(study.provenance)])
    return _files(job, paths)


def _evaluation(job, report) -> dict:
    from study.services.evaluation_report import evaluate_explainers

    p = job.params
    report(0, 1, "explaining and scoring the images")
    result = evaluate_explainers(p["model"], Path(p["images"]), p["methods"], p["metrics"],
                                 output_dir(job) / "files", device=p.get("device", "cpu"),
                                 batch_size=p.get("batch_size", 8), step=p.get("step"), report=report)
    return _files(job, result.files)


register(JobKind("gaze_import", "Gaze data set import", run=_gaze_import))
register(JobKind("gaze_report", "Gaze report", plan=_gaze_report_plan, run_shard=_precompute_shard,
                 finish=_gaze_report_finish))
register(JobKind("precompute", "Precompute maps", plan=lambda job: _shards(precompute_images(job.params)),
                 run_shard=_precompute_shard))
register(JobKind("build_study", "Study build", run=_build_study))
register(JobKind("analysis", "Study analysis", run=_analysis))
register(JobKind("evaluation", "Explainer evaluation", run=_evaluation))
