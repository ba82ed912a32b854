"""Real Celery workers (`celery -A config worker` subprocesses) on the real Redis broker or the embedded
filesystem transport, sharing the test's PostgreSQL database, media and cache folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kombu.pools
import numpy as np
import pytest
import torch
from django.db import connection
from PIL import Image

from config.celery import app
from explainers.nets import SmallCNN
from study.models import Job

ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


class Workers:
    """Start and kill worker processes; each logs to its own file."""

    def __init__(self, env: dict, folder: Path):
        self.env, self.folder, self.running = env, folder, {}

    def start(self, name: str) -> subprocess.Popen:
        log = (self.folder / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-P",
                "solo",
                "-Q",
                "celery,gpu",
                "-n",
                f"{name}@test",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running[name] = process
        return process

    def kill(self, name: str) -> None:
        """SIGKILL the worker: no clean-up, no acknowledgement, as when a machine dies."""
        process = self.running.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for name in list(self.running):
            self.kill(name)


@pytest.fixture(params=["redis", "filesystem"])
def workers(request, tmp_path, settings, isolated_media):
    """A `Workers` factory wired to the broker named by the parameter; this process sends to it too."""
    if connection.vendor != "postgresql":
        pytest.skip("workers share the test database: needs PostgreSQL (DATABASE_URL=postgres://...)")
    queue = tmp_path / "queue"
    queue.mkdir()
    if request.param == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.ConnectionError:
            pytest.fail(f"Redis is not answering at {REDIS_URL} (make redis)")
        client.flushdb()
        broker, options = REDIS_URL, {"visibility_timeout": 3600}
    else:
        (tmp_path / "control").mkdir()
        broker, options = (
            "filesystem://",
            {
                "data_folder_in": str(queue),
                "data_folder_out": str(queue),
                "control_folder": str(tmp_path / "control"),
            },
        )
    use_broker(broker, options)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DEBUG": "1",
        "OMP_NUM_THREADS": "1",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "EXPLAINER_CACHE_DIR": str(settings.EXPLAINER_CACHE_DIR),
        "JOBS_DIR": str(settings.JOBS_DIR),
        "CELERY_BROKER_URL": "" if broker.startswith("file") else broker,
        "CELERY_QUEUE_DIR": str(queue),
        "JOB_SHARD_IMAGES": str(settings.JOB_SHARD_IMAGES),
        "EXPLAINLAB_VAR": str(tmp_path / "var"),
    }
    if db.get("PASSWORD"):
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(f"{db['USER']}@", f"{db['USER']}:{db['PASSWORD']}@")
    pool = Workers(env, tmp_path)
    yield pool
    pool.stop_all()
    use_broker(settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS)


def use_broker(url: str, options: dict) -> None:
    """Point this process's Celery app at another broker: new settings, and no pooled connection left."""
    app.conf.update(broker_url=url, broker_transport_options=options, task_always_eager=False)
    kombu.pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def wait_for(
    job: Job, states=("done", "failed", "cancelled"), timeout: float = 120, workers=None, until=None
) -> Job:
    """Poll the job's row until it is in one of `states` (or `until(job)` is true); fail with the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if until(job) if until else job.state in states:
            return job
        time.sleep(0.2)
    logs = "\n".join(
        f"--- {name}\n{workers.log(name)[-3000:]}" for name in (workers.running if workers else ())
    )
    pytest.fail(f"job {job.pk} still {job.state} ({job.message}) after {timeout} s\n{logs}")


@pytest.fixture
def model_spec(tmp_path) -> str:
    """A SmallCNN with saved weights, 64 x 64 inputs, as a model spec file."""
    torch.manual_seed(0)
    torch.save(SmallCNN(num_classes=3).state_dict(), tmp_path / "weights.pt")
    spec = tmp_path / "model.json"
    spec.write_text(
        json.dumps(
            {
                "arch": "small_cnn",
                "checkpoint": "weights.pt",
                "num_classes": 3,
                "class_names": ["a", "b", "c"],
                "input_size": 64,
            }
        )
    )
    return str(spec)


@pytest.fixture
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        Image.fromarray(rng.integers(0, 255, (48, 56, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


def stored_keys(cache: Path) -> list[str]:
    """Every key of every complete shard (array and manifest agree), repeats included."""
    keys = []
    for manifest in sorted((cache / "shards").glob("*.json")):
        entry = json.loads(manifest.read_text())
        assert len(np.load(manifest.with_suffix(".npy"))) == len(entry["keys"]), manifest
        keys.extend(entry["keys"])
    return keys
