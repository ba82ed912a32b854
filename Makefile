# make demo: install, build the demo study and serve it on SQLite at 127.0.0.1:8000, with a job worker
# make test: install and run every test, on SQLite and on PostgreSQL
PY := .venv/bin/python
REQS := requirements.txt requirements-dev.txt
STAMP := .venv/.installed-$(shell cat $(REQS) | sha256sum | cut -c1-16)
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
DEMO_ENV := DEBUG=1

REDIS_URL ?= redis://127.0.0.1:6379/1
WORKER := .venv/bin/celery -A config worker -Q celery,gpu -P solo -l warning

.PHONY: install chromium postgres redis test demo serve worker bench

install: $(STAMP)

$(STAMP): $(REQS)
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@rm -f .venv/.installed-*
	@touch $@

chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@until pg_isready -q -h 127.0.0.1 -p 5432; do sleep 1; done

# The job tests run real Celery workers on Redis (and on the embedded filesystem broker).
redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
	@redis-cli -u $(REDIS_URL) ping >/dev/null 2>&1 || redis-server --daemonize yes --save "" --appendonly no
	@until redis-cli -u $(REDIS_URL) ping >/dev/null 2>&1; do sleep 1; done

# Library tests need no database; the Django tests run once on SQLite and once on PostgreSQL.
test: install chromium postgres redis
	$(PY) -m pytest tests/unit
	$(PY) -m pytest tests/integration tests/e2e
	DATABASE_URL=$(PG_URL) TEST_REDIS_URL=$(REDIS_URL) $(PY) -m pytest tests/integration tests/e2e

demo: install
	@mkdir -p $${EXPLAINLAB_VAR:-var}
	@# marks this var/ as a local demo: manage.py commands default to DEBUG=1 here (config/settings.py)
	@echo "local demo checkout: DEBUG defaults to 1 (remove this file, or set DEBUG=0, to turn it off)" \
	  > $${EXPLAINLAB_VAR:-var}/local-dev
	$(DEMO_ENV) $(PY) manage.py migrate --noinput
	$(DEMO_ENV) $(PY) manage.py build_demo
	@# jobs (uploads, reports, precomputes) run on a worker beside the web server: embedded broker, no server
	$(DEMO_ENV) $(WORKER) -B -s $${EXPLAINLAB_VAR:-var}/celerybeat-schedule & worker=$$!; trap "kill $$worker" EXIT INT TERM; \
	  $(DEMO_ENV) $(PY) manage.py runserver 127.0.0.1:8000

# A job worker for production settings (CELERY_BROKER_URL, DATABASE_URL, MEDIA_ROOT, ...); run one per
# machine (GPU machines: JOB_DEVICE=cuda).
worker: install
	$(WORKER)

# Production-style serving: gunicorn, static files through WhiteNoise. Needs SECRET_KEY.
serve: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	.venv/bin/gunicorn config.wsgi --workers $${WORKERS:-4} --bind $${BIND:-127.0.0.1:8000}

bench: install postgres
	for b in bench/*.py; do $(PY) $$b || exit 1; done
