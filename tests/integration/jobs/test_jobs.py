"""Jobs without a worker process (Celery's eager mode where a job must run): the upload request only
stores the file, pages and their permissions, cancel and retry with CSRF, lost workers, --enqueue,
a gaze report started from its data set's page."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from datetime import timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from study.gaze import importer as gaze_import
from study import jobs
from study.models import GazeDataset, Job
from study.gaze.importer import import_gaze_path
from study.gaze.options import ImportOptions
from study.tmp import tmp_dir
from study.tasks import requeue_after_restart
from tests.integration.gaze.helpers import good_files, write_tree

pytestmark = pytest.mark.django_db


@pytest.fixture
def researcher(django_user_model):
    """A staff user who may upload gaze data (and so owns what they upload)."""
    user = django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_gazedataset"))
    return user


@pytest.fixture
def staff_client(client, researcher):
    client.force_login(researcher)
    return client


def staged_calls(monkeypatch) -> list:
    """Record each call of the import's checking stage (where every file of the data is read)."""
    calls = []
    stage = gaze_import._stage

    def recording(*args, **kwargs):
        calls.append(args[0])
        return stage(*args, **kwargs)

    monkeypatch.setattr(gaze_import, "_stage", recording)
    return calls


def test_a_large_upload_is_stored_in_the_request_and_checked_by_the_job(staff_client, monkeypatch, settings):
    calls = staged_calls(monkeypatch)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for name, data in good_files(2).items():
            zf.writestr(name, data)
        zf.writestr("padding/blob.bin", np.random.default_rng(0).bytes(24 * 1024 * 1024))
    body = archive.getvalue()
    response = staff_client.post(
        reverse("gaze-upload"), {"name": "big", "archive": SimpleUploadedFile("big.zip", body)}
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[job.pk])
    assert calls == [] and job.state == "queued" and not GazeDataset.objects.exists()
    stored = settings.JOBS_DIR / str(job.pk) / "upload" / "archive.zip"
    assert stored.read_bytes() == body
    jobs.execute(job.pk, "test-worker")
    job.refresh_from_db()
    assert calls == ["big"] and job.state == "done", job.error
    assert GazeDataset.objects.get(name="big").stimuli.count() == 2 and not stored.exists()


def test_pages_show_a_researcher_their_own_jobs_and_a_superuser_all(client, researcher, django_user_model):
    mine = Job.objects.create(kind="precompute", params={"folder": "/x"}, started_by=researcher)
    other = Job.objects.create(
        kind="analysis",
        params={"study": "s"},
        started_by=django_user_model.objects.create_user("o", is_staff=True),
    )
    urls = [reverse("job-list"), reverse("job-detail", args=[mine.pk]), reverse("job-status", args=[mine.pk])]
    assert all("/accounts/login/" in client.get(url)["Location"] for url in urls)
    client.force_login(django_user_model.objects.create_user("visitor"))
    assert {client.get(url).status_code for url in urls} == {403}
    client.force_login(researcher)
    listing = client.get(reverse("job-list")).content.decode()
    assert (
        reverse("job-detail", args=[mine.pk]) in listing
        and reverse("job-detail", args=[other.pk]) not in listing
    )
    assert client.get(reverse("job-detail", args=[other.pk])).status_code == 404
    status = client.get(reverse("job-status", args=[mine.pk])).json()
    assert status == {
        "state": "queued",
        "progress": 0.0,
        "done": 0,
        "total": 0,
        "message": "",
        "error": "",
        "active": True,
        "result": {},
    }
    page = client.get(reverse("job-detail", args=[mine.pk])).content.decode()
    assert 'src="/static/study/job.js"' in page and "<script>" not in page and ">Cancel</button>" in page
    client.force_login(django_user_model.objects.create_superuser("admin", password="pw-Secret-123"))
    assert client.get(reverse("job-detail", args=[other.pk])).status_code == 200


def test_cancel_and_retry_need_csrf_and_follow_the_states(researcher, settings):
    job = Job.objects.create(kind="precompute", params={"folder": "/x"}, started_by=researcher)
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    assert client.post(reverse("job-cancel", args=[job.pk])).status_code == 403
    client.get(reverse("job-detail", args=[job.pk]))
    token = {"csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    assert client.post(reverse("job-retry", args=[job.pk]), token).status_code == 409  # not failed yet
    assert client.post(reverse("job-cancel", args=[job.pk]), token)["Location"] == reverse(
        "job-detail", args=[job.pk]
    )
    job.refresh_from_db()
    assert job.state == "cancelled" and job.finished_at is not None
    jobs.execute(job.pk, "late-worker")  # a worker taking the message after the cancel does nothing
    job.refresh_from_db()
    assert job.state == "cancelled" and job.worker == ""
    client.post(reverse("job-retry", args=[job.pk]), token)
    job.refresh_from_db()
    assert (job.state, job.error, job.finished_at) == ("queued", "", None)


def test_uploads_of_failed_jobs_are_kept_for_retry_then_removed(staff_client, researcher, settings):
    settings.JOB_UPLOAD_KEEP_DAYS = 7
    now = timezone.now()

    def job_with_upload(state, ended_days_ago):
        job = Job.objects.create(kind="gaze_import", params={"name": "x", "upload": "archive.zip"},
                                 started_by=researcher, state=state,
                                 error="bad zip" if state == "failed" else "",
                                 finished_at=now - timedelta(days=ended_days_ago))
        (jobs.output_dir(job) / jobs.UPLOAD).mkdir(parents=True)
        (jobs.output_dir(job) / jobs.UPLOAD / "archive.zip").write_bytes(b"zip")
        return job

    old_failed, old_cancelled = job_with_upload("failed", 8), job_with_upload("cancelled", 30)
    recent, done = job_with_upload("failed", 6), job_with_upload("done", 30)
    assert sorted(jobs.drop_old_uploads(now)) == sorted([old_failed.pk, old_cancelled.pk])
    assert not (jobs.output_dir(old_failed) / jobs.UPLOAD).exists()
    for kept in (recent, done):
        assert (jobs.output_dir(kept) / jobs.UPLOAD / "archive.zip").exists()
    assert jobs.drop_old_uploads(now) == []  # nothing left to drop
    # Retry of a job whose files are gone says so, and changes nothing.
    response = staff_client.post(reverse("job-retry", args=[old_failed.pk]))
    assert response.status_code == 409 and b"were removed 7 days after it ended" in response.content
    old_failed.refresh_from_db()
    assert old_failed.state == "failed"
    staff_client.post(reverse("job-retry", args=[recent.pk]))
    recent.refresh_from_db()
    assert recent.state == "queued"


def test_a_running_job_whose_worker_died_is_queued_again_then_failed(settings):
    settings.JOB_MAX_ATTEMPTS = 2
    old = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 1)
    silent = Job.objects.create(kind="analysis", state="running", attempts=1, heartbeat_at=old, worker="w9@a")
    alive = Job.objects.create(
        kind="analysis", state="running", attempts=1, heartbeat_at=timezone.now(), worker="w1@b"
    )
    assert jobs.requeue_lost() == [silent.pk]
    silent.refresh_from_db()
    assert silent.state == "queued" and "worker died" in silent.message
    assert jobs.requeue_lost("w1@b") == [alive.pk]  # its worker restarted: whatever it ran is lost
    Job.objects.filter(pk=silent.pk).update(state="running", attempts=2, heartbeat_at=old)
    jobs.requeue_lost()
    silent.refresh_from_db()
    assert silent.state == "failed" and "stopped 2 times" in silent.error


def test_a_starting_worker_removes_the_staging_folders_of_dead_runs_and_keeps_live_ones(settings, tmp_path):
    settings.TMP_DIR = tmp_path / "tmp"
    now = timezone.now()
    # An import whose worker (w1@a) was killed, and a build re-queued after its first worker died that now
    # runs (attempt 2) on a live worker: its first run's folder is dead, its second run's in use.
    killed = Job.objects.create(kind="gaze_import", state="running", attempts=1, heartbeat_at=now,
                                worker="w1@a")
    moved = Job.objects.create(kind="build_study", state="running", attempts=1, heartbeat_at=now,
                               worker="w2@b")
    failed = Job.objects.create(kind="gaze_import", state="failed", attempts=3, error="worker stopped")

    def staging(job, what):
        folder = tmp_dir() / f"{jobs.staging_prefix(job, what)}x7"
        (folder / "stimuli").mkdir(parents=True)
        (folder / "stimuli" / "big.bin").write_bytes(b"x" * 1000)
        return folder

    killed_folder, moved_first, failed_folder = (
        staging(killed, "gaze-import"), staging(moved, "build"), staging(failed, "gaze-import"))
    Job.objects.filter(pk=moved.pk).update(attempts=2)
    moved.refresh_from_db()
    moved_second = staging(moved, "build")
    upload = tmp_dir() / "tmp1234.upload"  # not a job's: left to the age-based sweep
    upload.write_bytes(b"partial")

    requeue_after_restart(sender=SimpleNamespace(hostname="w1@a"))

    killed.refresh_from_db()
    assert killed.state == "queued"
    assert sorted(tmp_dir().iterdir()) == sorted([moved_second, upload])
    assert not any(p.exists() for p in (killed_folder, moved_first, failed_folder))


def test_an_import_job_stages_in_a_folder_named_after_its_run(tmp_path, settings, monkeypatch, jobs_inline):
    settings.TMP_DIR = tmp_path / "tmp"
    folders = []
    stage = gaze_import._stage

    def recording(name, entries, options, staging, *args):
        folders.append(staging.name)
        return stage(name, entries, options, staging, *args)

    monkeypatch.setattr(gaze_import, "_stage", recording)
    source = write_tree(tmp_path / "src", good_files(2))
    with jobs_inline():
        call_command("import_gaze", "named", str(source), "--enqueue", stdout=io.StringIO())
    job = Job.objects.get()
    assert job.state == "done", job.error
    assert len(folders) == 1 and folders[0].startswith(f"job-{job.pk}-1-gaze-import-")
    assert list(tmp_dir().iterdir()) == []


def test_enqueue_flag_queues_the_command_and_the_job_does_what_the_command_does(tmp_path, jobs_inline):
    source = write_tree(tmp_path / "src", good_files(2))
    with jobs_inline():
        call_command(
            "import_gaze", "queued", str(source), "--task", "free viewing", "--enqueue", stdout=io.StringIO()
        )
    job = Job.objects.get()
    assert (job.kind, job.state, job.params["path"]) == ("gaze_import", "done", str(source))
    direct = import_gaze_path("direct", source)
    queued = GazeDataset.objects.get(name="queued")
    assert queued.task == "free viewing" and queued.stimuli.count() == direct.stimuli.count() == 2


@pytest.mark.slow
def test_gaze_report_started_from_the_data_set_page(staff_client, researcher, tmp_path, jobs_inline, settings):
    settings.JOB_SHARD_IMAGES = 1
    import_gaze_path("small", write_tree(tmp_path / "src", good_files(2)), ImportOptions(owner_id=researcher.pk))
    page = staff_client.get(reverse("gaze-dataset", args=["small"])).content.decode()
    assert 'action="/r/gaze/small/report/"' in page
    bad = staff_client.post(
        reverse("gaze-report-start", args=["small"]),
        {"model": "efficientnet-lite0", "methods": "gradcam,nonsense"},
    )
    assert bad.status_code == 400 and not Job.objects.exists()
    with jobs_inline():
        response = staff_client.post(
            reverse("gaze-report-start", args=["small"]),
            {"model": "efficientnet-lite0", "methods": "gradcam,fem"},
        )
    job = Job.objects.get()
    assert response["Location"] == reverse("job-detail", args=[job.pk])
    assert job.state == "done" and job.shards_total == 2 and job.shards_done == [0, 1], job.error
    assert job.items_done == job.items_total == 2  # its last stage counted to the end: "2 / 2"
    assert GazeDataset.objects.get(name="small").last_report["methods"] == ["gradcam", "fem"]
    download = staff_client.get(job.result["per_image.csv"])
    assert b"".join(download.streaming_content).startswith(b"image,target,method,")
    assert download["Content-Disposition"].startswith("attachment")
    # report.html opens in the browser: HTML, inline, the site's CSP sandboxed, its own style let in by hash
    report = staff_client.get(job.result["report.html"])
    page = b"".join(report.streaming_content).decode()
    assert report["Content-Type"] == "text/html; charset=utf-8"
    assert report["X-Content-Type-Options"] == "nosniff"
    assert report["Content-Disposition"].startswith("inline") and page.startswith("<!DOCTYPE html>")
    policy = dict((d.strip().split(" ", 1) + [""])[:2] for d in report["Content-Security-Policy"].split(";"))
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy["style-src"].split()
    assert "'unsafe-inline'" not in policy["style-src"]
    assert "sandbox" in policy and policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert staff_client.get(reverse("job-file", args=[job.pk, "..%2F..%2Fsecret"])).status_code == 404


def test_every_beat_entry_names_a_registered_task_that_runs(settings, tmp_path):
    from config.celery import app

    settings.TMP_DIR = tmp_path / "tmp"

    import study.tasks  # noqa: F401  (registers the tasks)

    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
        assert app.tasks[entry["task"]].apply().get() == 0  # nothing stale, nothing old to remove


def test_a_failed_job_page_shows_a_short_message_and_the_log_the_traceback(
    staff_client, researcher, monkeypatch, caplog
):
    from study.gaze.report import GazeReportError

    def bug(job, report):
        return {}["/srv/media/gaze/mit/stimuli/i1.jpg"]

    def refusal(job, report):
        raise GazeReportError("data set mit has no stimuli with a GFDM to compare with")

    jobs.kind_of(Job(kind="analysis"))  # the real kinds first, so that the two below are added to them
    monkeypatch.setitem(jobs.KINDS, "bug", jobs.JobKind("bug", "Bug", run=bug))
    monkeypatch.setitem(jobs.KINDS, "refusal", jobs.JobKind("refusal", "Refusal", run=refusal))
    failed = {}
    for kind in ("bug", "refusal"):
        job = Job.objects.create(kind=kind, params={}, started_by=researcher)
        jobs.execute(job.pk, "test-worker")
        job.refresh_from_db()
        failed[kind] = job
        page = staff_client.get(reverse("job-detail", args=[job.pk])).content.decode()
        assert job.state == "failed" and "Traceback" not in job.error and "Traceback" not in page
        assert 'File "' not in job.error and job.error.splitlines()[0] in page.replace("&#x27;", "'")
    assert failed["bug"].error == (
        "an unexpected error stopped the job (KeyError: '/srv/media/gaze/mit/stimuli/i1.jpg'); "
        "the details are in the worker's log")
    assert failed["refusal"].error == "data set mit has no stimuli with a GFDM to compare with"
    bug_logged = f"job {failed['bug'].pk} failed"
    logged = [r for r in caplog.records if r.exc_info and r.getMessage() == bug_logged]
    assert logged and logged[0].exc_info[0] is KeyError
