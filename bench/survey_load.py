"""Participant pages under load: gunicorn on PostgreSQL, simulated participants from this process.

Serves the app with production settings (DEBUG=0, plain HTTP) under gunicorn on a fresh
PostgreSQL database, builds a study (30 items, 2 arms), and walks N participants through
landing, consent, intro, every question and completion from a pool of threads, each with
its own cookie jar, on loopback. Two runs: "paced" (each participant thinks THINK ms, about
half to one and a half times, before each POST) and "saturated" (no thinking). The floor is
a trivial Django view with a session read and written on the same gunicorn, settings and
database, hit by as many clients with no thinking. Browsers would also fetch the static
files and images once (they are cached for good); the bench leaves them out.

    .venv/bin/python bench/survey_load.py [--participants 100] [--concurrency 50] [--think-ms 400]
"""
import argparse
import html
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB_NAME", "explainlab_bench")  # one per checkout on a shared server
SLUG = "bench"
PAGES = ("landing", "consent", "intro", "intro done", "question", "answer", "completion")
FIELD = r'name="{}" value="([^"]*)"'


class BenchError(Exception):
    """A request failed or data went missing: the figures would not count."""


def fresh_database() -> str:
    """Drop and create the bench database; return its URL."""
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return f"{PG_SERVER}/{DB_NAME}"


def server_env(database_url: str, work: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
            "SECURE_SSL_REDIRECT": "0", "ALLOWED_HOSTS": "127.0.0.1", "MEDIA_ROOT": str(work / "media"),
            "STATIC_ROOT": str(work / "static"), "DJANGO_SETTINGS_MODULE": "bench.survey_load_app.settings",
            "LOG_LEVEL": "WARNING"}


def prepare(env: dict[str, str], items: int) -> None:
    """Migrate the bench database, collect static files, build the study (one Django start-up)."""
    n_correct = items // 2 + items % 2
    code = ("from django.core.management import call_command; from tests.factories import make_study; "
            "call_command('migrate', verbosity=0); "
            "call_command('collectstatic', interactive=False, verbosity=0); "
            f"make_study(slug={SLUG!r}, n_correct={n_correct}, n_incorrect={items - n_correct})")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode:
        raise BenchError(f"preparing the bench database failed:\n{result.stderr[-2000:]}")


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    """gunicorn with the app preloaded once, then forked into `workers` sync workers (one request each
    at a time, no keep-alive: what runs behind a buffering proxy)."""
    command = [str(Path(sys.executable).parent / "gunicorn"), "bench.survey_load_app.wsgi",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--preload",
               "--log-level", "warning"]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_until_up(base: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/bench/floor/", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise BenchError(f"gunicorn did not answer within {seconds:.0f} s")


class Participant:
    """One simulated participant: a cookie jar, a think time, and timings per page."""

    def __init__(self, base: str, think_s: float, timings: dict[str, list[float]], seed: int):
        self.base, self.think_s, self.timings = base, think_s, timings
        self.session = requests.Session()
        self.rng = random.Random(seed)

    def call(self, method: str, url: str, **kwargs) -> tuple[requests.Response, float]:
        start = time.perf_counter()
        response = self.session.request(method, url, allow_redirects=False, timeout=60, **kwargs)
        elapsed = time.perf_counter() - start
        if response.status_code not in (200, 302):
            raise BenchError(f"{method} {url}: HTTP {response.status_code}")
        return response, elapsed

    def timed(self, page: str, method: str, url: str, **kwargs) -> requests.Response:
        response, elapsed = self.call(method, url, **kwargs)
        self.timings[page].append(elapsed)
        return response

    def think(self) -> None:
        if self.think_s:
            time.sleep(self.think_s * self.rng.uniform(0.5, 1.5))

    def walk(self) -> int:
        """The whole study; returns the number of answers given."""
        landing = self.timed("landing", "GET", f"{self.base}/s/{SLUG}/")
        self.think()
        form = {name: field(landing.text, name) for name in ("csrfmiddlewaretoken", "consent_key")}
        consent = self.timed("consent", "POST", f"{self.base}/s/{SLUG}/", data=form)
        page_url = self.base + consent.headers["Location"]
        intro = self.timed("intro", "GET", page_url)
        self.think()
        csrf = {"csrfmiddlewaretoken": field(intro.text, "csrfmiddlewaretoken")}
        self.timed("intro done", "POST", page_url + "intro/", data=csrf)
        answers = 0
        while True:
            page, elapsed = self.call("GET", page_url)
            if 'name="trial"' not in page.text:
                self.timings["completion"].append(elapsed)
                if "Your completion code is" not in page.text:
                    raise BenchError("neither a question nor the completion page")
                return answers
            self.timings["question"].append(elapsed)
            self.think()
            form = {name: field(page.text, name) for name in ("csrfmiddlewaretoken", "trial", "option")}
            self.timed("answer", "POST", page_url + "answer/", data={**form, "rt_ms": "1500"})
            answers += 1


def field(text: str, name: str) -> str:
    match = re.search(FIELD.format(name), text)
    if not match:
        raise BenchError(f"no {name} field in the page")
    return html.unescape(match.group(1))


def run_participants(base: str, n: int, concurrency: int, think_s: float) -> tuple[int, float, dict]:
    """Walk n participants, `concurrency` at a time; (answers, seconds, timings per page)."""
    timings: dict[str, list[float]] = defaultdict(list)
    participants = [Participant(base, think_s, timings, seed) for seed in range(n)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        answers = sum(pool.map(Participant.walk, participants))
    return answers, time.perf_counter() - start, timings


def run_floor(base: str, requests_per_client: int, concurrency: int) -> tuple[int, float, list[float]]:
    """`concurrency` clients, each with its own session, hitting the floor view back to back."""
    timings: dict[str, list[float]] = defaultdict(list)

    def client(seed: int) -> int:
        visitor = Participant(base, 0, timings, seed)
        for _ in range(requests_per_client):
            visitor.timed("floor", "GET", f"{base}/bench/floor/")
        return requests_per_client

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        total = sum(pool.map(client, range(concurrency)))
    return total, time.perf_counter() - start, timings["floor"]


def check_nothing_lost(database_url: str, participants: int, items: int) -> None:
    with psycopg.connect(database_url) as conn:
        answered, pairs, completed = conn.execute(
            "SELECT count(*) FILTER (WHERE answered_at IS NOT NULL),"
            " count(DISTINCT (participant_id, item_id)),"
            " (SELECT count(*) FROM study_participant WHERE status = 'completed')"
            " FROM study_trial").fetchone()
    expected = participants * items
    if (answered, pairs, completed) != (expected, expected, participants):
        raise BenchError(f"lost or doubled: {answered} answered trials, {pairs} pairs, {completed} completed;"
                         f" expected {expected}, {expected}, {participants}")


def row(name: str, samples: list[float]) -> str:
    p50, p95, p99 = np.percentile(np.array(samples) * 1000, [50, 95, 99])
    return f"| {name:<22} | {len(samples):>8} | {p50:>7.1f} | {p95:>7.1f} | {p99:>7.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=100, help="participants per run")
    parser.add_argument("--concurrency", type=int, default=50, help="participants in the study at once")
    parser.add_argument("--think-ms", type=float, default=400,
                        help="mean think time before a POST in the paced run")
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    load_before = os.getloadavg()
    database_url = fresh_database()
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="survey-load-") as work:
        env = server_env(database_url, Path(work))
        prepare(env, args.items)
        server = start_gunicorn(env, args.port, args.workers)
        try:
            wait_until_up(base)
            floor = run_floor(base, 40, args.concurrency)
            paced = run_participants(base, args.participants, args.concurrency, args.think_ms / 1000)
            saturated = run_participants(base, args.participants, args.concurrency, 0)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        check_nothing_lost(database_url, 2 * args.participants, args.items)

    print(f"\ngunicorn {args.workers} sync workers, PostgreSQL, DEBUG=0; "
          f"{args.participants} participants x {args.items} questions per run, {args.concurrency} at once; "
          f"{os.cpu_count()} CPUs shared with this client; load average (1, 5, 15 min) before "
          f"{', '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    header = "| page                   | requests |  p50 ms |  p95 ms |  p99 ms |"
    rule = "|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|"
    total, seconds, samples = floor
    print(f"floor, a trivial view with a session: {total / seconds:.0f} requests/s, no think time")
    print(header, rule, row("floor view", samples), sep="\n")
    for name, (answers, seconds, timings), think in (("paced", paced, f"think ~{args.think_ms:.0f} ms"),
                                                     ("saturated", saturated, "no think time")):
        requests_made = sum(len(t) for t in timings.values())
        print(f"\n{name} ({think}): {answers / seconds:.0f} answers/s,"
              f" {requests_made / seconds:.0f} requests/s, {answers} answers in {seconds:.1f} s,"
              " no errors, nothing lost")
        print(header, rule, *(row(page, timings[page]) for page in PAGES), sep="\n")


if __name__ == "__main__":
    main()
