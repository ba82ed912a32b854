"""Gaze researcher pages: staff only, CSRF, zip and file uploads, problems shown, size limit."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from study.models import GazeDataset
from study.services.gaze_import import import_gaze_path
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


def test_zip_upload_imports_and_redirects_to_the_data_set(staff_client, isolated_media):
    response = staff_client.post(
        reverse("gaze-upload"),
        {
            "name": "uploaded",
            "task": "free viewing",
            "n_observers": "4",
            "archive": zip_upload(good_files(3)),
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("gaze-dataset", args=["uploaded"])
    dataset = GazeDataset.objects.get(name="uploaded")
    assert (dataset.task, dataset.n_observers, dataset.stimuli.count()) == ("free viewing", 4, 3)

    page = staff_client.get(response["Location"]).content.decode()
    for name in ("s0", "s1", "s2"):
        assert reverse("gaze-stimulus", args=["uploaded", name]) in page
    assert "uploaded" in staff_client.get(reverse("gaze-list")).content.decode()
    image = staff_client.get(reverse("gaze-stimulus-image", args=["uploaded", "s1"]))
    assert image.status_code == 200 and b"".join(image.streaming_content) == good_files(3)["stimuli/s1.png"]
    gfdm = staff_client.get(reverse("gaze-stimulus-gfdm", args=["uploaded", "s1"]))
    assert b"".join(gfdm.streaming_content).startswith(b"\x89PNG")


def test_separate_files_import_with_xhr_and_answer_json(staff_client):
    files = good_files(2)
    response = staff_client.post(
        reverse("gaze-upload"),
        {
            "name": "files",
            "stimuli": [
                SimpleUploadedFile(n.split("/")[1], files[n]) for n in files if n.startswith("stimuli/")
            ],
            "maps": [
                SimpleUploadedFile(n.split("/")[1], files[n]) for n in files if n.startswith("fixation_maps/")
            ],
        },
        **XHR,
    )
    assert response.status_code == 200 and response.json() == {
        "redirect": reverse("gaze-dataset", args=["files"])
    }
    assert GazeDataset.objects.get(name="files").stimuli.count() == 2


def test_problems_are_shown_and_nothing_is_stored(staff_client, dataset, isolated_media):
    before = db_state(), media_files(isolated_media)
    bad = good_files(2) | {"fixation_maps/ghost.png": map_png(), "fixation_maps/s1.png": b"junk"}
    response = staff_client.post(reverse("gaze-upload"), {"name": "bad", "archive": zip_upload(bad)})
    assert response.status_code == 400
    page = response.content.decode()
    assert "<code>fixation_maps/ghost.png</code>: no stimulus of the same name" in page
    assert "<code>fixation_maps/s1.png</code>: unreadable map" in page
    assert 'value="bad"' in page  # the form keeps what was typed

    response = staff_client.post(reverse("gaze-upload"), {"name": "bad", "archive": zip_upload(bad)}, **XHR)
    assert response.status_code == 400
    assert {"file": "fixation_maps/ghost.png", "problem": "no stimulus of the same name"} in response.json()[
        "problems"
    ]
    assert (db_state(), media_files(isolated_media)) == before


def test_unsafe_zip_and_form_errors_are_reported(staff_client):
    response = staff_client.post(
        reverse("gaze-upload"),
        {"name": "bad", "archive": zip_upload(good_files(1) | {"../../etc/x.png": b"x"})},
        **XHR,
    )
    assert response.json()["problems"] == [
        {"file": "../../etc/x.png", "problem": "unsafe path in archive (absolute, or containing '..')"}
    ]
    response = staff_client.post(reverse("gaze-upload"), {"name": "bad", "n_observers": "many"}, **XHR)
    assert response.json()["problems"] == [
        {"file": "(form)", "problem": "n_observers must be an integer, not 'many'"},
        {
            "file": "(upload)",
            "problem": "choose a zip archive, or the stimuli and their maps or fixation table",
        },
    ]
    response = staff_client.post(
        reverse("gaze-upload"), {"name": "bad", "archive": SimpleUploadedFile("a.zip", b"no")}, **XHR
    )
    assert response.json()["problems"][0]["file"] == "a.zip"
    assert "not a readable zip archive" in response.json()["problems"][0]["problem"]
    assert not GazeDataset.objects.exists()


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
