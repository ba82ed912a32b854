"""Fixtures shared by every test package."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MIT1003 = Path(os.environ.get("MIT1003_SAMPLE", ROOT.parent / "shared" / "data" / "mit1003-sample"))


@pytest.fixture(scope="session")
def mit1003_dir() -> Path:
    """The real MIT1003 gaze sample, read in place (never copied into the repo)."""
    if not (MIT1003 / "fixation_maps").is_dir():
        reason = f"real gaze sample not found at {MIT1003} (expected ../shared/data/mit1003-sample)"
        if os.environ.get("REQUIRE_SHARED_DATA"):
            pytest.fail(reason)
        pytest.skip(reason)
    return MIT1003


@pytest.fixture
def isolated_media(settings, tmp_path):
    """Point MEDIA_ROOT and the explainer cache at a fresh folder for one test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EXPLAINER_CACHE_DIR = tmp_path / "cache"
    settings.JOBS_DIR = tmp_path / "jobs"
    return settings.MEDIA_ROOT


@pytest.fixture
def jobs_inline(django_capture_on_commit_callbacks):
    """Run queued jobs in this process, at once (Celery's eager mode), when the enqueuing transaction
    commits: `with jobs_inline(): client.post(...)`."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield lambda: django_capture_on_commit_callbacks(execute=True)
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _static_without_manifest(settings):
    """Let templates resolve {% static %} without a collectstatic run (production keeps the manifest)."""
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache (the per-client limit of new participants lives there)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
