"""Participant pages under load: gunicorn on PostgreSQL, simulated participants from this process.

Serves the app with production settings (DEBUG=0, plain HTTP) under gunicorn on a fresh
PostgreSQL database, builds a study (30 items, 2 arms), and walks N participants through
landing, consent, intro, every question and completion from a pool of threads, each with
its own cookie jar, on loopback. Two runs: "paced" (each participant thinks THINK ms, about
half to one and a half times, before each POST) and "saturated" (no thinking). The floor is
a trivial Django view with a session read and written on the same gunicorn, settings and
database, hit by as many clients with no thinking. Browsers would also fetch the static
files and images once (they are cached for good); the bench leaves them out.

With --kill-worker-every SECONDS the bench instead serves as `make serve` does (config.wsgi, no
preload: each replacement worker loads the app itself) and makes two paced runs, one as is and one
while a thread sends SIGKILL to one gunicorn worker every SECONDS seconds (at most --max-kills). The
client retries a request once after a connection error, as a participant would reload the page (answers
are idempotent: a retried POST writes nothing twice), and the table counts responses by status class,
connection errors, retries, workers killed, gunicorn worker timeouts and the answers lost (expected
minus answered trials in the database).

--design builds the study in that design (study.survey.designs; simulation by default; distinction with
the class names shown and the correct-class question, its heaviest form; learn_predict in one round of
half training and half test pages; attention with its control arm alone). A participant answers as the
page's form does: the first value of every radio group, a learn_predict training page's hidden option
(SEEN), an attention page's min_clicks clicks (as its script fills the field) and no option.
--compare-designs instead builds one study per design (all five) in one database behind one gunicorn,
walks a warm-up round of participants through each (not timed: the first run on a fresh server is the
slowest whatever its design), then --rounds saturated rounds, each running the designs one after the other
in a rotated order, and prints one table: answers per second over the rounds, their ratio to the
simulation design's, responses 5xx, participants stopped and answers lost (per study, in the database); it
fails when a design is more than 20% slower than simulation, a response is 5xx or an answer is lost.

    .venv/bin/python bench/survey_load.py [--participants 100] [--concurrency 50] [--think-ms 400]
    .venv/bin/python bench/survey_load.py --participants 60 --concurrency 20 --kill-worker-every 10
    .venv/bin/python bench/survey_load.py --design agreement  # or distinction, learn_predict, attention
    .venv/bin/python bench/survey_load.py --compare-designs --participants 40 --concurrency 10 --items 10
"""
import argparse
import html
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
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
RADIO = re.compile(r'type="radio" name="([^"]+)" value="([^"]*)"')
DESIGNS = ("simulation", "agreement", "distinction", "learn_predict", "attention")
ITEM_PX = 32  # make_study's item images are ITEM_PX x ITEM_PX pixels (attention clicks fall inside them)
SLOWER_AT_MOST = 0.2  # --compare-designs: a design's answers/s at least 80% of simulation's
# What a request sees when its worker dies mid-flight: a refused or reset connection, or a cut body.
CONNECTION_ERRORS = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


class BenchError(Exception):
    """A request failed or data went missing: the figures would not count."""


def study_arguments(design: str, items: int) -> dict:
    """make_study's arguments for the bench study of `design` with `items` questions besides its slug,
    design and items right and wrong (the design's defaults fill in the options not given)."""
    half = items // 2
    return {
        "distinction": {"design_options": {"show_labels": True, "ask_correct_class": True}},
        # the design makes its own items, block by block: one round of `items` pages in all
        "learn_predict": {"design_options": {"rounds": 1, "train_per_round": half,
                                             "test_per_round": items - half}},
        "attention": {"techniques": ("none",)},  # the control arm alone: the design shows no explanation
    }.get(design, {})


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


def prepare(env: dict[str, str], items: int, designs: dict[str, str]) -> None:
    """Migrate the bench database, collect static files, build one study per slug of `designs` (slug ->
    design) with study_arguments (one Django start-up)."""
    n_correct = items // 2 + items % 2
    code = ("from django.core.management import call_command; from tests.factories import make_study; "
            "call_command('migrate', verbosity=0); "
            "call_command('collectstatic', interactive=False, verbosity=0); ")
    for slug, design in designs.items():
        code += (f"make_study(slug={slug!r}, n_correct={n_correct}, n_incorrect={items - n_correct}, "
                 f"design={design!r}, **{study_arguments(design, items)!r}); ")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-v0", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    if result.returncode:
        raise BenchError(f"preparing the bench database failed:\n{result.stderr[-2000:]}")


def start_gunicorn(env: dict[str, str], port: int, workers: int, preload: bool = True,
                   log: Path | None = None) -> subprocess.Popen:
    """gunicorn with `workers` sync workers (one request each at a time, no keep-alive: what runs behind a
    buffering proxy). preload: the app and every view module loaded once in the master, then forked;
    else each worker loads config.wsgi itself and the URLs on its first request, as `make serve` does.
    log: gunicorn's own messages go to this file instead of stderr."""
    app, options = ("bench.survey_load_app.wsgi", ["--preload"]) if preload else ("config.wsgi", [])
    command = [str(Path(sys.executable).parent / "gunicorn"), app, "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), *options, "--log-level", "warning"]
    if log is None:
        return subprocess.Popen(command, cwd=ROOT, env=env)
    with log.open("ab") as stream:
        return subprocess.Popen(command, cwd=ROOT, env=env, stderr=stream)


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


class Tally:
    """Counts shared by the participants' threads: responses by status class ("2xx" ...), "connection
    errors", "retries", "participants stopped"; `stops` keeps why each stopped participant stopped."""

    def __init__(self):
        self.counts: Counter[str] = Counter()
        self.stops: list[str] = []
        self.lock = threading.Lock()

    def add(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def stop(self, reason: str) -> None:
        with self.lock:
            self.counts["participants stopped"] += 1
            self.stops.append(reason)


class Participant:
    """One simulated participant: a cookie jar, a think time, timings per page, and how many times a
    request that met a connection error is sent again (the participant reloads)."""

    def __init__(self, base: str, think_s: float, timings: dict[str, list[float]], seed: int,
                 tally: Tally | None = None, retries: int = 0, slug: str = SLUG):
        self.base, self.think_s, self.timings, self.slug = base, think_s, timings, slug
        self.tally, self.retries = tally or Tally(), retries
        self.session = requests.Session()
        self.rng = random.Random(seed)
        self.answers = 0

    def send(self, method: str, url: str, **kwargs) -> requests.Response:
        """The request, sent again (same form, same cookies) up to `retries` times after a connection
        error; BenchError after the last."""
        retries_left = self.retries
        while True:
            try:
                return self.session.request(method, url, allow_redirects=False, timeout=60, **kwargs)
            except CONNECTION_ERRORS as error:
                self.tally.add("connection errors")
                if not retries_left:
                    raise BenchError(f"{method} {url}: {type(error).__name__}") from error
                retries_left -= 1
                self.tally.add("retries")

    def call(self, method: str, url: str, **kwargs) -> tuple[requests.Response, float]:
        start = time.perf_counter()
        response = self.send(method, url, **kwargs)
        elapsed = time.perf_counter() - start
        self.tally.add(f"{response.status_code // 100}xx")
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
        """The whole study; returns the number of answers given (also kept in `answers` as they go)."""
        landing = self.timed("landing", "GET", f"{self.base}/s/{self.slug}/")
        self.think()
        form = {name: field(landing.text, name) for name in ("csrfmiddlewaretoken", "consent_key")}
        consent = self.timed("consent", "POST", f"{self.base}/s/{self.slug}/", data=form)
        page_url = self.base + consent.headers["Location"]
        intro = self.timed("intro", "GET", page_url)
        self.think()
        csrf = {"csrfmiddlewaretoken": field(intro.text, "csrfmiddlewaretoken")}
        self.timed("intro done", "POST", page_url + "intro/", data=csrf)
        while True:
            page, elapsed = self.call("GET", page_url)
            if 'name="trial"' not in page.text:
                self.timings["completion"].append(elapsed)
                if "Your completion code is" not in page.text:
                    raise BenchError("neither a question nor the completion page")
                return self.answers
            self.timings["question"].append(elapsed)
            self.think()
            form = {name: field(page.text, name) for name in ("csrfmiddlewaretoken", "trial")}
            answer = answer_fields(page.text, self.rng)
            self.timed("answer", "POST", page_url + "answer/", data={**form, **answer, "rt_ms": "1500"})
            self.answers += 1

    def walk_or_stop(self) -> int:
        """walk, but a participant who meets an error stops there (counted in the tally) instead of
        stopping the run; returns the answers given."""
        try:
            return self.walk()
        except BenchError as error:
            self.tally.stop(str(error))
            return self.answers


def field(text: str, name: str) -> str:
    match = re.search(FIELD.format(name), text)
    if not match:
        raise BenchError(f"no {name} field in the page")
    return html.unescape(match.group(1))


def answer_fields(text: str, rng: random.Random) -> dict[str, str]:
    """The answer fields of a question page, as a participant who always does the least sends them: on an
    attention page `clicks`, min_clicks [x, y, t_ms] at random inside the item image, 300 ms apart, and
    `timed_out` empty (no option); else the first value of every radio group (the option, and per design
    the correct class or a confidence rating), or the hidden option of a learn_predict training page."""
    if 'name="clicks"' in text:
        n = int(re.search(r'data-min-clicks="(\d+)"', text).group(1))
        clicks = [[rng.randrange(10 * ITEM_PX) / 10, rng.randrange(10 * ITEM_PX) / 10, 300 * (i + 1)]
                  for i in range(n)]
        return {"clicks": json.dumps(clicks), "timed_out": ""}
    choices: dict[str, str] = {}
    for name, value in RADIO.findall(text):
        choices.setdefault(name, html.unescape(value))
    if "option" not in choices:
        choices["option"] = field(text, "option")
    return choices


def run_participants(base: str, n: int, concurrency: int, think_s: float,
                     tally: Tally | None = None, slug: str = SLUG) -> tuple[int, float, dict]:
    """Walk n participants through study `slug`, `concurrency` at a time; (answers, seconds, timings per
    page). The first error stops the run, unless `tally` is given: then each request is retried once after
    a connection error, and a participant who meets an error stops alone, counted there."""
    timings: dict[str, list[float]] = defaultdict(list)
    retries = int(tally is not None)
    participants = [Participant(base, think_s, timings, seed, tally, retries, slug) for seed in range(n)]
    walk = Participant.walk if tally is None else Participant.walk_or_stop
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        answers = sum(pool.map(walk, participants))
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


def children(pid: int) -> list[int]:
    """The pids of the live child processes of `pid` (from /proc/*/stat: state, then parent pid)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:  # the process ended while we looked
            continue
        if int(parent) == pid and state != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


class WorkerKiller(threading.Thread):
    """Sends SIGKILL to one worker of the gunicorn master `master_pid` (a child of it, chosen at random)
    every `every_s` seconds, at most `limit` times, until `stop()`; `killed` holds their pids."""

    def __init__(self, master_pid: int, every_s: float, limit: int, seed: int = 0):
        super().__init__(name="worker-killer", daemon=True)
        self.master_pid, self.every_s, self.limit = master_pid, every_s, limit
        self.rng = random.Random(seed)
        self.stopped = threading.Event()
        self.killed: list[int] = []

    def run(self) -> None:
        while len(self.killed) < self.limit and not self.stopped.wait(self.every_s):
            workers = children(self.master_pid)
            if not workers:
                continue
            pid = self.rng.choice(workers)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.killed.append(pid)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


def stored(database_url: str) -> tuple[int, int]:
    """(answered trials, participants) in the bench database."""
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT (SELECT count(*) FROM study_trial WHERE answered_at IS NOT NULL),"
                            " (SELECT count(*) FROM study_participant)").fetchone()


def row(name: str, samples: list[float]) -> str:
    p50, p95, p99 = np.percentile(np.array(samples) * 1000, [50, 95, 99])
    return f"| {name:<22} | {len(samples):>8} | {p50:>7.1f} | {p95:>7.1f} | {p99:>7.1f} |"


def worker_timeouts(log: Path) -> int:
    """How many times gunicorn's master killed a worker that did not answer within its timeout."""
    return log.read_text(errors="replace").count("WORKER TIMEOUT")


def run_with_kills(args: argparse.Namespace, database_url: str, work: Path) -> list[dict]:
    """The paced run twice on one gunicorn served as `make serve` does: as is, then while a worker is
    killed every args.kill_worker_every seconds. One dict of figures per run."""
    env = server_env(database_url, work)
    prepare(env, args.items, {SLUG: args.design})
    log = work / "gunicorn.log"
    base = f"http://127.0.0.1:{args.port}"
    server = start_gunicorn(env, args.port, args.workers, preload=False, log=log)
    try:
        wait_until_up(base)
        every = args.kill_worker_every
        return [run_killing(args, base, database_url, server.pid, log, name, kill_every)
                for name, kill_every in (("no kills", None), (f"kill every {every:g} s", every))]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def run_killing(args: argparse.Namespace, base: str, database_url: str, master_pid: int, log: Path, name: str,
                every_s: float | None) -> dict:
    """One paced run, killing a worker every `every_s` seconds (None: none); its figures."""
    tally, timeouts = Tally(), worker_timeouts(log)
    answered, participants = stored(database_url)
    killer = WorkerKiller(master_pid, every_s, args.max_kills) if every_s else None
    if killer:
        killer.start()
    try:
        answers, seconds, timings = run_participants(base, args.participants, args.concurrency,
                                                     args.think_ms / 1000, tally)
    finally:
        if killer:
            killer.stop()
    answered_after, participants_after = stored(database_url)
    return {"run": name, "seconds": seconds, "answers": answers, "timings": timings, "tally": tally,
            "killed": len(killer.killed) if killer else 0, "timeouts": worker_timeouts(log) - timeouts,
            "expected": args.participants * args.items, "in database": answered_after - answered,
            "participants": participants_after - participants}


def print_kill_table(runs: list[dict]) -> None:
    """One row per run: responses by status class, connection errors, retries, participants stopped,
    workers killed, gunicorn worker timeouts, participants stored, answers expected, answered trials in
    the database, lost."""
    columns = ("run", "answers/s", "2xx", "3xx", "4xx", "5xx", "conn. errors", "retries", "stopped",
               "killed", "timeouts", "participants", "expected", "in database", "lost")
    rows = []
    for run in runs:
        counts = run["tally"].counts
        rows.append([run["run"], f"{run['answers'] / run['seconds']:.1f}",
                     *(str(counts[f"{k}xx"]) for k in range(2, 6)), str(counts["connection errors"]),
                     str(counts["retries"]), str(counts["participants stopped"]), str(run["killed"]),
                     str(run["timeouts"]), str(run["participants"]), str(run["expected"]),
                     str(run["in database"]), str(run["expected"] - run["in database"])])
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows)]
    print("| " + " | ".join(f"{c:<{w}}" for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in rows:
        print("| " + " | ".join(f"{cell:>{w}}" for cell, w in zip(cells, widths)) + " |")


def main_with_kills(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    database_url = fresh_database()
    with tempfile.TemporaryDirectory(prefix="survey-load-") as work:
        runs = run_with_kills(args, database_url, Path(work))
    print(f"\ngunicorn {args.workers} sync workers as `make serve` runs them (no preload, default timeout),"
          f" PostgreSQL, DEBUG=0; {args.participants} participants x {args.items} questions per run,"
          f" {args.concurrency} at once, think ~{args.think_ms:.0f} ms; a request is retried once after a"
          f" connection error; {os.cpu_count()} CPUs shared with this client; load average (1, 5, 15 min)"
          f" before {', '.join(f'{x:.2f}' for x in load_before)},"
          f" after {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print_kill_table(runs)
    header = "| page                   | requests |  p50 ms |  p95 ms |  p99 ms |"
    rule = "|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|"
    for run in runs:
        print(f"\n{run['run']}: {run['answers']} answers in {run['seconds']:.1f} s")
        pages = (row(page, run["timings"][page]) for page in PAGES if run["timings"][page])
        print(header, rule, *pages, sep="\n")
    failures = [f"{run['run']}: {reason}" for run in runs for reason in run["tally"].stops]
    failures += [f"{run['run']}: {run['tally'].counts['5xx']} responses 5xx" for run in runs
                 if run["tally"].counts["5xx"]]
    failures += [f"{run['run']}: {run['expected'] - run['in database']} answers lost" for run in runs
                 if run["expected"] != run["in database"]]
    failures += [f"{run['run']}: {run['participants']} participants stored for {args.participants}"
                 for run in runs if run["participants"] != args.participants]
    if failures:
        raise SystemExit("\n".join(["", "FAILED:", *failures[:20]]))


def answered_by_study(database_url: str) -> dict[str, int]:
    """Answered trials per study slug in the bench database."""
    with psycopg.connect(database_url) as conn:
        return dict(conn.execute(
            "SELECT s.slug, count(*) FROM study_trial t JOIN study_participant p ON p.id = t.participant_id"
            " JOIN study_study s ON s.id = p.study_id WHERE t.answered_at IS NOT NULL GROUP BY s.slug"))


def compare_designs(args: argparse.Namespace) -> list[dict]:
    """One study per design (slug bench-<design>) behind one gunicorn: a warm-up round, then args.rounds
    saturated rounds (no think time) in a rotated design order; one dict of figures per design. Requests
    are retried once after a connection error and a participant who meets an error stops alone, counted."""
    slugs = {f"{SLUG}-{design}": design for design in DESIGNS}
    database_url = fresh_database()
    base = f"http://127.0.0.1:{args.port}"
    runs = {design: {"design": design, "answers": 0, "seconds": 0.0, "tally": Tally(), "walked": 0}
            for design in DESIGNS}
    with tempfile.TemporaryDirectory(prefix="survey-load-") as work:
        env = server_env(database_url, Path(work))
        prepare(env, args.items, slugs)
        server = start_gunicorn(env, args.port, args.workers)
        try:
            wait_until_up(base)
            for slug, design in slugs.items():  # warm-up, not timed
                run_participants(base, args.concurrency, args.concurrency, 0, runs[design]["tally"], slug)
                runs[design]["walked"] += args.concurrency
            for round_ in range(args.rounds):
                order = list(slugs.items())[round_ % len(slugs):] + list(slugs.items())[:round_ % len(slugs)]
                for slug, design in order:
                    run = runs[design]
                    answers, seconds, _ = run_participants(base, args.participants, args.concurrency, 0,
                                                           run["tally"], slug)
                    run["answers"] += answers
                    run["seconds"] += seconds
                    run["walked"] += args.participants
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    in_database = answered_by_study(database_url)
    for slug, design in slugs.items():
        run = runs[design]
        run |= {"answers/s": run["answers"] / run["seconds"], "expected": run["walked"] * args.items,
                "in database": in_database.get(slug, 0)}
    return list(runs.values())


def print_design_table(runs: list[dict]) -> list[str]:
    """One row per design: answers/s, ratio to simulation's, 5xx, participants stopped, answers expected,
    in the database and lost; the failures (slower than SLOWER_AT_MOST, a 5xx, a stop, a loss)."""
    columns = ("design", "answers/s", "vs simulation", "5xx", "stopped", "expected", "in database", "lost")
    reference = next(run["answers/s"] for run in runs if run["design"] == "simulation")
    rows, failures = [], []
    for run in runs:
        counts, ratio = run["tally"].counts, run["answers/s"] / reference
        lost = run["expected"] - run["in database"]
        rows.append([run["design"], f"{run['answers/s']:.1f}", f"{ratio:.2f}", str(counts["5xx"]),
                     str(counts["participants stopped"]), str(run["expected"]), str(run["in database"]),
                     str(lost)])
        failures += [f"{run['design']}: {reason}" for reason in run["tally"].stops]
        if ratio < 1 - SLOWER_AT_MOST:
            failures.append(f"{run['design']}: {ratio:.2f} times simulation's answers/s")
        if counts["5xx"] or lost:
            failures.append(f"{run['design']}: {counts['5xx']} responses 5xx, {lost} answers lost")
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows)]
    print("| " + " | ".join(f"{c:<{w}}" for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in rows:
        print("| " + " | ".join(f"{cell:>{w}}" for cell, w in zip(cells, widths)) + " |")
    return failures


def main_compare_designs(args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    runs = compare_designs(args)
    studies = ", ".join(f"{design} {arguments}" for design in DESIGNS
                        if (arguments := study_arguments(design, args.items)))
    print(f"\ngunicorn {args.workers} sync workers (preloaded), PostgreSQL, DEBUG=0; per design a warm-up"
          f" of {args.concurrency} participants, then {args.rounds} rounds of {args.participants}"
          f" participants x {args.items} questions, {args.concurrency} at once, no think time; bench"
          f" studies {studies};"
          f" {os.cpu_count()} CPUs shared with this client;"
          f" load average (1, 5, 15 min) before {', '.join(f'{x:.2f}' for x in load_before)},"
          f" after {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    failures = print_design_table(runs)
    if failures:
        raise SystemExit("\n".join(["", "FAILED:", *failures[:20]]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=100, help="participants per run")
    parser.add_argument("--concurrency", type=int, default=50, help="participants in the study at once")
    parser.add_argument("--think-ms", type=float, default=400,
                        help="mean think time before a POST in the paced run")
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--kill-worker-every", type=float, metavar="SECONDS",
                        help="two paced runs, the second while a gunicorn worker is killed every SECONDS")
    parser.add_argument("--max-kills", type=int, default=30, help="at most this many workers killed")
    parser.add_argument("--design", choices=DESIGNS, default="simulation", help="the bench study's design")
    parser.add_argument("--compare-designs", action="store_true",
                        help="the saturated run per design on one server, one table side by side")
    parser.add_argument("--rounds", type=int, default=3, help="--compare-designs: timed rounds per design")
    args = parser.parse_args()
    if args.compare_designs:
        main_compare_designs(args)
        return
    if args.kill_worker_every is not None:
        if args.kill_worker_every <= 0 or args.max_kills < 1:
            parser.error("--kill-worker-every must be above 0 and --max-kills at least 1")
        main_with_kills(args)
        return

    load_before = os.getloadavg()
    database_url = fresh_database()
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="survey-load-") as work:
        env = server_env(database_url, Path(work))
        prepare(env, args.items, {SLUG: args.design})
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

    print(f"\n{args.design} design; gunicorn {args.workers} sync workers, PostgreSQL, DEBUG=0; "
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
