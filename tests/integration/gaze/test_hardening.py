"""Issue 12 on the gaze pages: values past a database limit, unstorable file names, huge uploads,
temporary files and ownership. Each refusal is a 4xx (or the import's problem list) and leaves no row
and no file behind, on SQLite and PostgreSQL alike."""

import os
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from study.models import Access, GazeDataset, GazeDatasetShare, GazeStimulus
from study.gaze import importer as gaze_import
from study.gaze.importer import GazeImportError, import_gaze, import_gaze_path
from study.gaze.options import ImportOptions
from study.tmp import sweep_stale
from tests.integration.gaze.helpers import (
    good_files, map_png, media_files, stimulus_png, write_tree, zip_bytes,
)

pytestmark = pytest.mark.django_db
XHR = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}


@pytest.fixture(autouse=True)
def _own_tmp(settings, tmp_path):
    settings.TMP_DIR = tmp_path / "tmp"
    settings.FILE_UPLOAD_TEMP_DIR = str(settings.TMP_DIR)
    settings.TMP_DIR.mkdir()
    return settings.TMP_DIR


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "b@example.org", "pw-Secret-123"))
    return client


def upload(client, **fields):
    archive = SimpleUploadedFile("set.zip", zip_bytes(good_files(1)), content_type="application/zip")
    return client.post(reverse("gaze-upload"), {"name": "up", "archive": archive, **fields}, **XHR)


def assert_nothing_left(media: Path, tmp: Path) -> None:
    assert not GazeDataset.objects.exists() and not GazeStimulus.objects.exists()
    assert media_files(media) == {}
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("description", "a\x00b", "description must not contain NUL characters"),
        ("task", "t" * 201, "task is longer than 200 characters"),
        ("n_observers", "99999999999", "number of observers must be between 0 and 2,147,483,647"),
        ("sigma_px", "inf", "sigma must be a positive finite number"),
        ("ppd", "nan", "pixels per degree must be a positive finite number"),
    ],
)
def test_form_values_past_a_database_limit_are_problems(superuser_client, isolated_media, _own_tmp,
                                                         field, value, problem):
    response = upload(superuser_client, **{field: value})
    assert response.status_code == 400
    assert {"file": "(options)", "problem": problem} in response.json()["problems"]
    assert_nothing_left(isolated_media, _own_tmp)


def test_a_file_name_that_cannot_be_stored_is_a_problem_not_a_crash(isolated_media, _own_tmp):
    long_stem = "s" * 245
    entries = {f"stimuli/{long_stem}.png": stimulus_png, f"fixation_maps/{long_stem}.png": map_png}
    with pytest.raises(GazeImportError) as caught:
        import_gaze("long", entries)
    assert {p.problem for p in caught.value.problems} == {"path is longer than 255 characters"}
    entries = {f"stimuli/{'s' * 230}.png": stimulus_png, f"fixation_maps/{'s' * 230}.png": map_png}
    with pytest.raises(GazeImportError) as caught:
        import_gaze("long", entries)
    assert {p.problem for p in caught.value.problems} == {"file name is longer than 200 bytes"}
    entries = {"stimuli/a\x00b.png": stimulus_png, "fixation_maps/a\x00b.png": map_png}
    with pytest.raises(GazeImportError) as caught:
        import_gaze("nul", entries)
    assert any("control characters" in p.problem for p in caught.value.problems)
    assert_nothing_left(isolated_media, _own_tmp)


def test_a_huge_upload_is_refused_from_its_declared_size_before_the_body_is_read(
    superuser_client, isolated_media, _own_tmp
):
    # A 1.1 GB request: the test client sends 10 bytes, so reading the body would fail or hang.
    response = superuser_client.generic("POST", reverse("gaze-upload"), b"0123456789",
                                        content_type="multipart/form-data; boundary=x",
                                        CONTENT_LENGTH=str(1_100_000_000), **XHR)
    assert response.status_code == 413
    assert "larger than the limit" in response.json()["problems"][0]["problem"]
    assert_nothing_left(isolated_media, _own_tmp)


def test_uploading_needs_the_add_permission(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw-Secret-123", is_staff=True)
    client.force_login(user)
    assert upload(client).status_code == 403
    assert not GazeDataset.objects.exists()


def test_imports_leave_no_temporary_files_on_success_failure_or_timeout(tmp_path, isolated_media, _own_tmp,
                                                                         monkeypatch):
    source = write_tree(tmp_path / "src", good_files(2))
    import_gaze_path("ok", source)
    assert list(_own_tmp.iterdir()) == []
    with pytest.raises(GazeImportError):
        import_gaze_path("ok", source)  # the name exists already
    assert list(_own_tmp.iterdir()) == []

    def killed_by_timeout(*args):  # gunicorn's abort handler raises SystemExit in the worker
        assert any(_own_tmp.iterdir()), "the import stages under TMP_DIR"
        raise SystemExit(1)

    monkeypatch.setattr(gaze_import, "store_dataset", killed_by_timeout)
    with pytest.raises(SystemExit):
        import_gaze_path("timed-out", source)
    assert list(_own_tmp.iterdir()) == [] and GazeDataset.objects.count() == 1


def test_stale_temporary_files_are_swept_and_fresh_ones_kept(_own_tmp):
    stale_dir, stale_file, fresh = _own_tmp / "gaze-import-x", _own_tmp / "upload.part", _own_tmp / "fresh"
    stale_dir.mkdir()
    (stale_dir / "a.npy").write_bytes(b"x" * 100)
    stale_file.write_bytes(b"y")
    fresh.write_bytes(b"z")
    old = time.time() - 7 * 3600
    for path in (stale_dir, stale_file):
        os.utime(path, (old, old))
    assert set(sweep_stale()) == {stale_dir, stale_file}
    assert list(_own_tmp.iterdir()) == [fresh]
    os.utime(fresh, (old, old))
    call_command("sweep_tmp", stdout=open(os.devnull, "w"))
    assert list(_own_tmp.iterdir()) == []


def test_other_staff_get_404_until_the_data_set_is_shared(client, django_user_model, tmp_path):
    owner = django_user_model.objects.create_user("owner", password="pw-Secret-123", is_staff=True)
    other = django_user_model.objects.create_user("other", password="pw-Secret-123", is_staff=True)
    dataset = import_gaze_path("mine", write_tree(tmp_path / "src", good_files(1)),
                               ImportOptions(owner_id=owner.pk))
    urls = [reverse("gaze-dataset", args=["mine"]), reverse("gaze-stimulus", args=["mine", "s0"]),
            reverse("gaze-stimulus-image", args=["mine", "s0"])]
    client.force_login(owner)
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]
    assert b"mine" in client.get(reverse("gaze-list")).content
    client.force_login(other)
    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    assert b"mine" not in client.get(reverse("gaze-list")).content
    group = Group.objects.create(name="lab")
    other.groups.add(group)
    GazeDatasetShare.objects.create(dataset=dataset, group=group, access=Access.VIEW)
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]


def test_a_view_only_share_cannot_start_a_report_that_would_replace_the_owners(
        client, django_user_model, tmp_path):
    from study.models import Job

    owner = django_user_model.objects.create_user("owner", password="pw-Secret-123", is_staff=True)
    viewer = django_user_model.objects.create_user("viewer", password="pw-Secret-123", is_staff=True)
    dataset = import_gaze_path("mine", write_tree(tmp_path / "src", good_files(1)),
                               ImportOptions(owner_id=owner.pk))
    group = Group.objects.create(name="lab")
    viewer.groups.add(group)
    GazeDatasetShare.objects.create(dataset=dataset, group=group, access=Access.VIEW)
    client.force_login(viewer)
    assert b"Make a report" not in client.get(reverse("gaze-dataset", args=["mine"])).content
    response = client.post(reverse("gaze-report-start", args=["mine"]),
                           {"model": "efficientnet-lite0", "methods": "gradient"})
    assert response.status_code == 403 and not Job.objects.exists()
    client.force_login(owner)
    assert b"Make a report" in client.get(reverse("gaze-dataset", args=["mine"])).content


def test_a_report_takes_a_bundled_model_never_a_path_on_the_server(superuser_client, tmp_path):
    from study.models import Job

    import_gaze_path("mine", write_tree(tmp_path / "src", good_files(1)))
    left_by_a_failed_job = tmp_path / "jobs" / "7" / "upload" / "model.json"
    left_by_a_failed_job.parent.mkdir(parents=True)
    left_by_a_failed_job.write_text('{"arch": "resnet18", "checkpoint": "checkpoint.pt"}')
    for model in (str(left_by_a_failed_job), "/etc/passwd", "../model.json"):
        response = superuser_client.post(reverse("gaze-report-start", args=["mine"]),
                                         {"model": model, "methods": "gradient"})
        assert response.status_code == 400 and b"bundled" in response.content
    assert not Job.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("page", ["gaze-upload", "study-build"])
def test_an_upload_shorter_than_its_content_length_gets_400_and_leaves_no_file(
        live_server, django_user_model, settings, _own_tmp, page):
    """A client that declares more than it sends, then closes its side: 400 at once, no temporary file."""
    import socket
    from importlib import import_module

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Permission

    from study.models import Job

    settings.SECURE_SSL_REDIRECT = False
    user = django_user_model.objects.create_user("up", password="pw-Secret-123", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_gazedataset", "add_study"]))
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                    HASH_SESSION_KEY: user.get_session_auth_hash()})
    session.save()
    csrf = "c" * 32
    part = (f'--xyz\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n{csrf}\r\n'.encode()
            + b'--xyz\r\nContent-Disposition: form-data; name="archive"; filename="set.zip"\r\n'
            b"Content-Type: application/zip\r\n\r\n" + b"P" * 400_000)
    host, port = live_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {reverse(page)} HTTP/1.1\r\nHost: {host}\r\n"
                     f"Cookie: {settings.SESSION_COOKIE_NAME}={session.session_key}; csrftoken={csrf}\r\n"
                     "Content-Type: multipart/form-data; boundary=xyz\r\n"
                     f"Content-Length: {len(part) + 5_000_000}\r\nConnection: close\r\n\r\n".encode() + part)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:300]
    assert b"ended before its declared size" in reply
    assert list(_own_tmp.iterdir()) == [] and not GazeDataset.objects.exists() and not Job.objects.exists()
