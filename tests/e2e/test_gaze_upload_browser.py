"""A researcher uploads part of the real MIT1003 sample as a zip in Chromium, lands on the import job's
page and from there on the data set (jobs run in Celery's eager mode here; tests/integration/jobs runs
real workers)."""

import zipfile

import pytest

from study.models import GazeDataset

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("eager_jobs")]
SUBSET = ("i05june05_static_street_boston_p1010764", "i1000274881", "i1000978947", "i210")


def sample_zip(mit1003_dir, path, extra: dict[str, bytes] | None = None):
    """A zip of a few stimuli, their maps and the fixation_points/ files, under one top folder."""
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(mit1003_dir.rglob("*")):
            relative = file.relative_to(mit1003_dir).as_posix()
            if file.is_file() and any(name in relative for name in SUBSET):
                archive.write(file, f"mit1003-sample/{relative}")
        for name, data in (extra or {}).items():
            archive.writestr(f"mit1003-sample/{name}", data)
    return path


def log_in(page, live_server, django_user_model):
    django_user_model.objects.create_user("res", password="pw-Secret-123", is_staff=True,
        is_superuser=True)
    page.goto(f"{live_server.url}/accounts/login/?next=/r/gaze/upload/")
    page.fill("#id_username", "res")
    page.fill("#id_password", "pw-Secret-123")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_url(f"{live_server.url}/r/gaze/upload/")


def test_researcher_uploads_a_zip_and_sees_the_data_set(
    page, live_server, django_user_model, mit1003_dir, tmp_path
):
    log_in(page, live_server, django_user_model)
    page.fill("input[name=name]", "mit-browser")
    page.fill("input[name=task]", "free viewing")
    page.set_input_files("input[name=archive]", str(sample_zip(mit1003_dir, tmp_path / "mit.zip")))
    page.click("#gaze-upload button[type=submit]")
    page.wait_for_url(f"{live_server.url}/r/jobs/*/", timeout=60_000)
    assert page.inner_text("#job-state") == "done"
    page.click(".job-results >> text=data set")
    page.wait_for_url(f"{live_server.url}/r/gaze/mit-browser/")

    assert page.locator(".gaze-grid li").count() == 4
    # The thumbnails load lazily (the page's load event does not wait for them): wait for the first.
    page.wait_for_function("() => { const img = document.querySelector('.gaze-grid img');"
                           " return img.complete && img.naturalWidth > 0; }", timeout=30_000)
    page.click("text=Gaze data sets")
    assert page.locator("table.gaze-datasets >> text=mit-browser").is_visible()
    dataset = GazeDataset.objects.get(name="mit-browser")
    assert (dataset.task, dataset.stimuli.count(), dataset.source_format) == (
        "free viewing",
        4,
        "maps+fixations",
    )


def test_a_bad_zip_shows_each_problem_on_the_job_page_and_stores_nothing(
    page, live_server, django_user_model, mit1003_dir, tmp_path
):
    log_in(page, live_server, django_user_model)
    archive = sample_zip(mit1003_dir, tmp_path / "bad.zip", {"fixation_maps/ghost.png": b"not even a png"})
    page.fill("input[name=name]", "mit-bad")
    page.set_input_files("input[name=archive]", str(archive))
    page.click("#gaze-upload button[type=submit]")
    page.wait_for_url(f"{live_server.url}/r/jobs/*/", timeout=60_000)
    assert page.inner_text("#job-state") == "failed"
    error = page.inner_text(".job-error")
    assert "mit1003-sample/fixation_maps/ghost.png: no stimulus of the same name" in error
    assert page.locator("button >> text=Retry").is_visible()
    assert not GazeDataset.objects.exists()
