"""The kinds of job, one entry each: a new kind (e.g. an explainer evaluation) is one `register` call.
Imported when the app is ready (study.apps), so every process knows them.

Each is a thin call into the service function its management command runs, given the job's params and
folders; it returns the links its page shows. Split kinds (precompute, gaze report) cut their images into
shards of JOB_SHARD_IMAGES for the `gpu` queue. The services are imported where a kind runs: every
process imports this module at start, and most of them load torch or pandas."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.urls import reverse

from study.jobs import UPLOAD, JobKind, output_dir, register, staging_prefix


def _files(job, paths) -> dict[str, str]:
    """Download links of the files a job wrote into its files/ folder."""
    return {Path(p).name: reverse("job-file", args=[job.pk, Path(p).name]) for p in paths}


def _shards(paths: list[str]) -> list[dict]:
    size = settings.JOB_SHARD_IMAGES
    return [{"images": paths[start:start + size]} for start in range(0, len(paths), size)]


# precompute: params {model, methods, targets, params (per method), batch_size, device, and folder (a
# folder the workers can read) or study (a study's item images)}


def _precompute_plan(job) -> list[dict]:
    from study.precompute import precompute_images

    return _shards(precompute_images(job.params))


def _precompute_shard(job, shard: dict, report) -> None:
    from study.precompute import precompute_batch

    precompute_batch(job.params, shard["images"], report)


# gaze import: params {name, options: ImportOptions fields, and path (a folder or zip the worker can
# read) or upload (a name under the job's folder, removed once imported; archive_name for a zip)}


def _gaze_import(job, report) -> dict:
    from study.gaze.import_job import import_from_job

    upload, staging = output_dir(job) / UPLOAD, staging_prefix(job, "gaze-import")
    dataset = import_from_job(job.params, upload, staging, report)
    return {"data set": reverse("gaze-dataset", args=[dataset.name])}


# gaze report: params {dataset, model, methods, device, batch_size}; its shards precompute the maps


def _gaze_report_plan(job) -> list[dict]:
    from study.gaze.report_job import report_images

    return _shards(report_images(job.params["dataset"]))


def _gaze_report_finish(job, report) -> dict:
    from study.gaze.report_job import report_from_job

    result = report_from_job(job.params, output_dir(job) / "files", report)
    return {"data set": reverse("gaze-dataset", args=[job.params["dataset"]]), **_files(job, result.files)}


# clicks to gaze: params {study, name, options: ImportOptions fields}


def _clicks_gaze(job, report) -> dict:
    from study.gaze.clicks import clicks_dataset
    from study.gaze.options import ImportOptions
    from study.models import GazeDataset, Study

    report(0, 1, "importing the clicks")
    name = job.params["name"]
    # A retry after a worker was killed between the import's commit and the job's end finds it made.
    if not GazeDataset.objects.filter(name=name, provenance__job=job.pk).exists():
        study = Study.objects.get(slug=job.params["study"])
        clicks_dataset(study, name, ImportOptions(**job.params["options"]), origin={"job": job.pk})
    return {"data set": reverse("gaze-dataset", args=[name])}


# study build: params = study.building.request.BuildRequest fields (see build_from_job)


def _build_study(job, report) -> dict:
    from study.building.build_job import build_from_job, decoder_quality

    study = build_from_job(job.params, output_dir(job) / UPLOAD, staging_prefix(job, "build"), report)
    result = {"study": reverse("researcher-dashboard", args=[study.slug])}
    if quality := decoder_quality(study):
        result["PV decoder quality"] = quality
    return result


# analysis: params {study, method}; evaluation: params {model, images, methods, metrics, device,
# batch_size, step}


def _analysis(job, report) -> dict:
    from study.models import Study
    from study.research.analysis import write_study_analysis

    study = Study.objects.get(slug=job.params["study"])
    report(0, 1, "analysing the answers")
    paths = write_study_analysis(study, output_dir(job) / "files", job.params.get("method", "auto"))
    return _files(job, paths)


def _evaluation(job, report) -> dict:
    from evaluation.report import evaluate_explainers

    p = job.params
    report(0, 1, "explaining and scoring the images")
    result = evaluate_explainers(p["model"], Path(p["images"]), p["methods"], p["metrics"],
                                 output_dir(job) / "files", device=p.get("device", "cpu"),
                                 batch_size=p.get("batch_size", 8), step=p.get("step"), report=report)
    return _files(job, result.files)


register(JobKind("gaze_import", "Gaze data set import", run=_gaze_import))
register(JobKind("gaze_report", "Gaze report", plan=_gaze_report_plan, run_shard=_precompute_shard,
                 finish=_gaze_report_finish))
register(JobKind("precompute", "Precompute maps", plan=_precompute_plan, run_shard=_precompute_shard))
register(JobKind("clicks_gaze", "Clicks to gaze data set", run=_clicks_gaze))
register(JobKind("build_study", "Study build", run=_build_study))
register(JobKind("analysis", "Study analysis", run=_analysis))
register(JobKind("evaluation", "Explainer evaluation", run=_evaluation))
