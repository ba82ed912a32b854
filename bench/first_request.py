"""A fresh web worker's first participant request: how long a replacement worker (after a crash or a
timeout) takes to answer its first GET /s/SLUG/ and consent POST, from process start.

Each row is a new Python process with production settings (DEBUG=0) on a throw-away SQLite database:
Django starts, the WSGI application loads the URL configuration, and one participant opens the study
and consents. "Before" loads torch the way the URL configuration used to (through the builder's form);
"now" is the app as it is. Best and median of --runs processes each.

    .venv/bin/python bench/first_request.py [--runs 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER = r"""
import os, re, sys, time
start = time.perf_counter()
if sys.argv[1] == "before":
    import explainers.dispatch  # what the URL configuration used to import
import django
django.setup()
startup = time.perf_counter() - start
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("collectstatic", "--noinput", verbosity=0)
ready_db = time.perf_counter()
from config.wsgi import application  # noqa: F401
import config.urls  # noqa: F401  (what gunicorn's worker loads before its first request)
from django.test import Client
from tests.factories import make_study
make_study("bench")
client = Client(HTTP_HOST="localhost")
page = client.get("/s/bench/")
key = re.search(r'name="consent_key" value="([^"]*)"', page.content.decode()).group(1)
assert client.post("/s/bench/", {"consent_key": key}).status_code == 302
end = time.perf_counter()
print(f"{end - ready_db + startup:.3f} {int('torch' in sys.modules)}")
"""


def one_run(kind: str) -> tuple[float, bool]:
    """Seconds from process start to the consent's answer (the database set-up and collectstatic left out)."""
    with tempfile.TemporaryDirectory() as folder:
        env = dict(os.environ, DEBUG="0", SECRET_KEY="bench-" + "k" * 50, SECURE_SSL_REDIRECT="0",
                   DATABASE_URL=f"sqlite:///{folder}/db.sqlite3", EXPLAINLAB_VAR=folder,
                   STATIC_ROOT=f"{folder}/static",
                   DJANGO_SETTINGS_MODULE="config.settings")
        result = subprocess.run([sys.executable, "-c", WORKER, kind], cwd=ROOT, env=env, capture_output=True,
                                text=True)
        if result.returncode:
            raise SystemExit(result.stderr)
        out = result.stdout.split()
    return float(out[0]), out[1] == "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {runs} fresh processes each")
    print(f"{'URL configuration':<34} {'torch loaded':>12} {'best (s)':>9} {'median (s)':>11}")
    for kind, name in (("before", "before (torch through the builder)"), ("now", "now")):
        times = [one_run(kind) for _ in range(runs)]
        seconds = [t for t, _ in times]
        print(f"{name:<34} {str(times[0][1]):>12} {min(seconds):>9.2f} {statistics.median(seconds):>11.2f}")


if __name__ == "__main__":
    main()
