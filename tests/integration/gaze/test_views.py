"""Gaze researcher pages: staff only, CSRF, zip and file uploads (imported by a job, run here in
Celery's eager mode), problems shown on the job's page, size limit."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from study.models import GazeDataset, Job
from study.gaze.importer import import_gaze_path
from tests.integration.gaze.helpers import db_state, good_files, map_png, media_files, write_tree, zip_bytes

pytestmark = pytest.mark.django_db
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True,
        is_superuser=True))
    return client


@pytest.fixture
def dataset(tmp_path):
    return import_gaze_path("small", write_tree(tmp_path / "src", good_files(2)))


def zip_upload(files: dict[str, bytes], name: str = "set.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, zip_bytes(files), content_type="application/zip")


def test_pages_are_for_staff_only(client, django_user_model, dataset):
    urls = [
        reverse("gaze-list"),
        reverse("gaze-upload"),
        reverse("gaze-dataset", args=["small"]),
        reverse("gaze-stimulus", args=["small", "s0"]),
        reverse("gaze-stimulus-image", args=["small", "s0"]),
        reverse("gaze-stimulus-gfdm", args=["small", "s0"]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    client.force_login(django_user_model.objects.create_user("someone", password="pw-Secret-123"))
    assert {client.get(url).status_code for url in urls} == {403}


def test_upload_needs_a_csrf_token(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True))
    response = client.post(reverse("gaze-upload"), {"name": "x", "archive": zip_upload(good_files(1))})
    assert response.status_code == 403 and not GazeDataset.objects.exists()


def test_zip_upload_imports_and_redirects_to_the_data_set(staff_client, isolated_media, jobs_inline):
    with jobs_inline():
        response = staff_client.post(
            reverse("gaze-upload"),
            {
                "name": "uploaded",
                "task": "free viewing",
                "n_observers": "4",
                "archive": zip_upload(good_files(3)),
            },
        )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[job.pk])
    assert (job.kind, job.state, job.result) == ("gaze_import", "done",
                                                 {"data set": reverse("gaze-dataset", args=["uploaded"])})
    job_page = staff_client.get(response["Location"]).content.decode()
    assert reverse("gaze-dataset", args=["uploaded"]) in job_page
    assert not (isolated_media.parent / "jobs" / str(job.pk) / "upload").exists()  # removed once imported
    dataset = GazeDataset.objects.get(name="uploaded")
    assert (dataset.task, dataset.n_observers, dataset.stimuli.count()) == ("free viewing", 4, 3)

    page = staff_client.get(reverse("gaze-dataset", args=["uploaded"])).content.decode()
    for name in ("s0", "s1", "s2"):
        assert reverse("gaze-stimulus", args=["uploaded", name]) in page
    assert "uploaded" in staff_client.get(reverse("gaze-list")).content.decode()
    image = staff_client.get(reverse("gaze-stimulus-image", args=["uploaded", "s1"]))
    assert image.status_code == 200 and b"".join(image.streaming_content) == good_files(3)["stimuli/s1.png"]
    gfdm = staff_client.get(reverse("gaze-stimulus-gfdm", args=["uploaded", "s1"]))
    assert b"".join(gfdm.streaming_content).startswith(b"\x89PNG")


def test_separate_files_import_with_xhr_and_answer_json(staff_client, jobs_inline):
    files = good_files(2)
    form = {
        "name": "files",
        "stimuli": [SimpleUploadedFile(n.split("/")[1], files[n]) for n in files if n.startswith("stimuli/")],
        "maps": [SimpleUploadedFile(n.split("/")[1], files[n]) for n in files
                 if n.startswith("fixation_maps/")],
    }
    with jobs_inline():
        response = staff_client.post(reverse("gaze-upload"), form, **XHR)
    assert response.status_code == 200 and response.json() == {
        "redirect": reverse("job-detail", args=[Job.objects.get().pk])
    }
    assert GazeDataset.objects.get(name="files").stimuli.count() == 2


def failed_upload(staff_client, jobs_inline, form: dict) -> str:
    """Post an upload whose data is bad: the request answers with the job's page, the job fails; its page."""
    with jobs_inline():
        response = staff_client.post(reverse("gaze-upload"), form)
    job = Job.objects.latest("pk")
    assert response.status_code == 302 and response["Location"] == reverse("job-detail", args=[job.pk])
    assert job.state == "failed" and "nothing was imported" in job.error
    return staff_client.get(response["Location"]).content.decode()


def test_problems_are_shown_on_the_job_page_and_nothing_is_stored(staff_client, dataset, isolated_media,
                                                                   jobs_inline):
    before = db_state(), media_files(isolated_media)
    bad = good_files(2) | {"fixation_maps/ghost.png": map_png(), "fixation_maps/s1.png": b"junk"}
    page = failed_upload(staff_client, jobs_inline, {"name": "bad", "archive": zip_upload(bad)})
    assert "fixation_maps/ghost.png: no stimulus of the same name" in page
    assert "fixation_maps/s1.png: unreadable map" in page
    assert 'action="/r/jobs/' in page and "Retry" in page
    assert (db_state(), media_files(isolated_media)) == before


def test_unsafe_zip_and_form_errors_are_reported(staff_client, jobs_inline):
    page = failed_upload(staff_client, jobs_inline,
                         {"name": "bad", "archive": zip_upload(good_files(1) | {"../../etc/x.png": b"x"})})
    assert "../../etc/x.png: unsafe path in archive (absolute, or containing &#x27;..&#x27;)" in page
    not_a_zip = SimpleUploadedFile("a.zip", b"no")
    page = failed_upload(staff_client, jobs_inline, {"name": "bad", "archive": not_a_zip})
    assert "not a readable zip archive" in page
    response = staff_client.post(reverse("gaze-upload"), {"name": "bad", "n_observers": "many"}, **XHR)
    assert response.json()["problems"] == [  # the form itself is checked in the request
        {"file": "(form)", "problem": "n_observers must be an integer, not 'many'"},
        {
            "file": "(upload)",
            "problem": "choose a zip archive, or the stimuli and their maps or fixation table",
        },
    ]
    assert not GazeDataset.objects.exists() and Job.objects.count() == 2


def test_upload_past_the_size_limit_is_refused(staff_client, settings, isolated_media):
    settings.GAZE_UPLOAD_MAX_BYTES = 2_000
    response = staff_client.post(
        reverse("gaze-upload"), {"name": "big", "archive": zip_upload(good_files(4))}, **XHR
    )
    assert response.status_code == 413  # answered from the declared Content-Length, before the body is read
    assert response.json()["problems"] == [
        {"file": "(request)", "problem": "The request is larger than the limit of 2,000 bytes."}
    ]
    assert not GazeDataset.objects.exists() and media_files(isolated_media) == {}


def test_unknown_data_set_stimulus_and_file_are_404(staff_client, dataset):
    assert staff_client.get(reverse("gaze-dataset", args=["nope"])).status_code == 404
    assert staff_client.get(reverse("gaze-stimulus", args=["small", "nope"])).status_code == 404
    assert staff_client.get(reverse("gaze-stimulus-map", args=["small", "s0", "gradcam"])).status_code == 404
