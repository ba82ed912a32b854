"""Jobs on real Celery workers, on Redis and on the embedded filesystem broker: a gaze import from the
upload page ends like the command; a failing job shows its error; cancel stops within one batch; a
SIGKILLed worker leaves only complete shards and a restart finishes the rest without recomputing; two
workers compute each map once."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from study import jobs
from study.models import GazeDataset, GazeFixations, GazeMap, GazeStimulus, Job
from tests.integration.jobs.conftest import stored_keys, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]
SLOW_METHOD = {"smoothgrad": {"n": 100}}  # ~0.2 s per batch of 2 on one thread: time to cancel or kill


@pytest.fixture
def staff_client(client, django_user_model):
    """A staff user who may upload gaze data (and so owns what they upload)."""
    user = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_gazedataset"))
    client.force_login(user)
    return client


def mit1003_subset(source: Path, folder: Path, n: int = 3) -> Path:
    """The first `n` stimuli of the real sample with their maps, and its fixation points (links: read in
    place)."""
    for sub in ("stimuli", "fixation_maps", "fixation_points"):
        (folder / sub).mkdir(parents=True)
    for image in sorted((source / "stimuli").iterdir())[:n]:
        (folder / "stimuli" / image.name).symlink_to(image)
        for gfdm in (source / "fixation_maps").glob(f"{image.stem}.*"):
            (folder / "fixation_maps" / gfdm.name).symlink_to(gfdm)
    for file in (source / "fixation_points").iterdir():
        (folder / "fixation_points" / file.name).symlink_to(file)
    return folder


def snapshot(name: str) -> dict:
    """A data set's rows and stored files' contents, without ids, names, times or storage paths."""
    dataset = GazeDataset.objects.get(name=name)

    def digest(field) -> str:
        return hashlib.sha256(Path(field.path).read_bytes()).hexdigest()

    return {
        "dataset": {
            k: getattr(dataset, k)
            for k in ("description", "task", "n_observers", "pixels_per_degree", "sigma_px", "source_format")
        },
        "stimuli": sorted(
            (s.name, s.width, s.height, s.sha256, digest(s.image))
            for s in GazeStimulus.objects.filter(dataset=dataset)
        ),
        "maps": sorted(
            (m.stimulus.name, m.source_name, m.source_sha256, digest(m.array), digest(m.preview))
            for m in GazeMap.objects.filter(stimulus__dataset=dataset)
        ),
        "fixations": sorted(
            (f.stimulus.name, f.count, f.source_sha256, digest(f.array))
            for f in GazeFixations.objects.filter(stimulus__dataset=dataset)
        ),
    }


def test_gaze_upload_through_a_worker_matches_the_command(workers, staff_client, mit1003_dir, tmp_path):
    folder = mit1003_subset(mit1003_dir, tmp_path / "subset")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    response = staff_client.post(
        reverse("gaze-upload"),
        {
            "name": "uploaded",
            "n_observers": "15",
            "ppd": "35",
            "task": "free viewing, 3 s",
            "archive": SimpleUploadedFile("mit.zip", archive.getvalue(), content_type="application/zip"),
        },
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[job.pk])
    assert job.state == "queued" and not GazeDataset.objects.exists()
    workers.start("w1")
    wait_for(job, workers=workers)
    assert job.state == "done", job.error
    call_command(
        "import_gaze",
        "command",
        str(folder),
        "--observers",
        "15",
        "--ppd",
        "35",
        "--task",
        "free viewing, 3 s",
        "--verbosity",
        "0",
    )
    uploaded, command = snapshot("uploaded"), snapshot("command")
    assert uploaded == command and len(uploaded["stimuli"]) == 4 and len(uploaded["fixations"]) == 1
    page = staff_client.get(response["Location"]).content.decode()
    assert "done" in page and reverse("gaze-dataset", args=["uploaded"]) in page


def test_a_failing_job_shows_its_error(workers, staff_client, model_spec, image_folder):
    missing = jobs.enqueue(
        "precompute", {"model": model_spec, "folder": "/nowhere/at/all", "methods": ["fem"]}
    )
    job = jobs.enqueue(
        "precompute", {"model": model_spec, "folder": str(image_folder), "methods": ["nomethod"]}
    )
    workers.start("w1")
    wait_for(missing, workers=workers)
    assert (
        missing.state == "failed"
        and "no images (.bmp, " in missing.error
        and "/nowhere/at/all" in missing.error
    )
    wait_for(job, workers=workers)
    assert job.state == "failed" and "shard 1 of 1: cannot precompute ['nomethod']" in job.error
    Job.objects.filter(pk=job.pk).update(started_by=staff_client.session["_auth_user_id"])
    page = staff_client.get(reverse("job-detail", args=[job.pk])).content.decode()
    assert "cannot precompute [&#x27;nomethod&#x27;]" in page and "Retry" in page
    status = staff_client.get(reverse("job-status", args=[job.pk])).json()
    assert status["state"] == "failed" and "nomethod" in status["error"]


def slow_precompute(model_spec: str, image_folder: Path) -> Job:
    """A precompute of 16 maps, 2 a batch, slow enough to cancel or kill its worker in the middle."""
    return jobs.enqueue("precompute", {"model": model_spec, "folder": str(image_folder),
                                       "methods": ["smoothgrad"], "targets": [0], "params": SLOW_METHOD,
                                       "batch_size": 2})


def test_cancel_stops_a_running_job_within_one_batch(workers, model_spec, image_folder, settings):
    job = slow_precompute(model_spec, image_folder)
    workers.start("w1")
    cache = Path(settings.EXPLAINER_CACHE_DIR)
    wait_for(
        job,
        workers=workers,
        until=lambda j: (cache / "shards").is_dir() and len(list((cache / "shards").glob("*.json"))) >= 1,
    )
    assert jobs.cancel(job)
    at_cancel = len(stored_keys(cache))
    wait_for(job, workers=workers, until=lambda j: "stopped: cancelled" in workers.log("w1"), timeout=60)
    job.refresh_from_db()
    stored = len(stored_keys(cache))
    assert (
        job.state == "cancelled" and at_cancel <= stored <= at_cancel + 2 < 16
    )  # at most the batch in flight


def test_a_killed_worker_leaves_whole_shards_and_a_restart_finishes_the_rest(
    workers, model_spec, image_folder, settings
):
    job = slow_precompute(model_spec, image_folder)
    workers.start("w1")
    cache = Path(settings.EXPLAINER_CACHE_DIR)
    wait_for(job, workers=workers, until=lambda j: len(list((cache / "shards").glob("*.json"))) >= 2)
    workers.kill("w1")
    before = stored_keys(cache)  # every visible shard is whole (array rows == manifest keys)
    assert 4 <= len(before) < 16 and len(set(before)) == len(before)
    job.refresh_from_db()
    assert job.state == "running" and job.shards_running == {"0": "w1@test"}
    workers.start("w1")  # the same worker restarting finds the job it was running and queues it again
    wait_for(job, workers=workers)
    assert job.state == "done", job.error
    after = stored_keys(cache)
    assert len(after) == len(set(after)) == 16 and set(before) <= set(after)  # nothing computed twice


def test_two_workers_compute_each_map_exactly_once(workers, model_spec, image_folder, settings):
    settings.JOB_SHARD_IMAGES = 4
    workers.env["JOB_SHARD_IMAGES"] = "4"
    workers.start("w1")
    workers.start("w2")
    job = jobs.enqueue(
        "precompute",
        {
            "model": model_spec,
            "folder": str(image_folder),
            "methods": ["smoothgrad", "gradcam"],
            "params": SLOW_METHOD,
            "batch_size": 2,
        },
    )
    wait_for(job, workers=workers)
    assert job.state == "done" and job.shards_total == 4 and job.shards_done == [0, 1, 2, 3], job.error
    keys = stored_keys(Path(settings.EXPLAINER_CACHE_DIR))
    assert len(keys) == 32 and Counter(keys).most_common(1)[0][1] == 1
    shards = {name: workers.log(name).count("study.tasks.run_shard[") // 2 for name in ("w1", "w2")}
    assert sum(shards.values()) == 4, shards


def test_a_build_shows_its_stages_and_cancel_stops_it_with_no_study(workers, model_spec, image_folder):
    """A study build on a worker: its page's row names the stage and its progress while it renders, and
    Cancel stops it there, leaving no study (before, a build ran to the end and created it)."""
    from explainers import load_model, predict
    from study.models import Study

    model = load_model(model_spec)
    images = sorted(image_folder.iterdir())
    top1 = predict(model, model.preprocess(images)).argmax(1).tolist()
    labels = [model.class_names[c if i % 2 else (c + 1) % 3] for i, c in enumerate(top1)]  # half right
    (image_folder / "labels.csv").write_text(
        "image,labels\n" + "".join(f"{p.name},{label}\n" for p, label in zip(images, labels)))
    job = jobs.enqueue("build_study", {
        "slug": "slow", "model": model_spec, "dataset": str(image_folder), "arms": ["gradcam", "smoothgrad"],
        "n_correct": 4, "n_incorrect": 3, "batch_size": 2, "method_params": {"smoothgrad": {"n": 1000}}})
    workers.start("w1")
    rendering = wait_for(job, workers=workers,
                         until=lambda j: j.message.startswith("rendering the SmoothGrad") and j.progress > 0)
    assert rendering.state == "running" and 0 < rendering.progress < 1
    assert jobs.cancel(job)
    wait_for(job, workers=workers, until=lambda j: "stopped: cancelled" in workers.log("w1"), timeout=60)
    job.refresh_from_db()
    assert job.state == "cancelled" and not Study.objects.exists()
