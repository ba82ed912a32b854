"""ExplainLab settings: everything comes from the environment.

DATABASE_URL   database (default: SQLite file var/db.sqlite3); PostgreSQL in production
SECRET_KEY     required unless DEBUG=1
DEBUG          0/1 (default 0; 1 when unset and `make demo` left its marker var/local-dev, so the
               README's commands run as printed in a demo checkout)
ALLOWED_HOSTS  comma-separated (default: localhost,127.0.0.1)
MEDIA_ROOT     uploaded and generated files (default: var/media)
SECURE_SSL_REDIRECT  1 behind a TLS-terminating proxy that forwards X-Forwarded-Proto;
                     0 to serve plain HTTP (a local load test); secure cookies follow it
SECURE_HSTS_SECONDS  HSTS max-age in seconds (default 0: no HSTS header); opt in once HTTPS works for good
SECURE_HSTS_INCLUDE_SUBDOMAINS, SECURE_HSTS_PRELOAD  0/1 (default 0): they bind every subdomain, hard to undo
CACHE_URL      redis://host:port/db for a cache shared by all workers (default: one per process)
CLIENT_ADDRESS_HEADER  META key of the client address set by a trusted proxy, e.g. HTTP_X_REAL_IP
                     (default: REMOTE_ADDR); only used, hashed, for the per-client participant limit
"""
from pathlib import Path
import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EXPLAINLAB_VAR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be 0 or 1, not {value!r}")


# `make demo` writes this marker into its own var/ folder: a demo checkout defaults to DEBUG=1. A server
# never has it (its var/ holds no demo), and an explicit DEBUG=0 always wins.
LOCAL_DEV_MARKER = VAR_DIR / "local-dev"
DEBUG = env_bool("DEBUG", LOCAL_DEV_MARKER.is_file())
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for local development).")
    SECRET_KEY = "insecure-development-key-only-for-debug-mode-000000000000000000"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "study",
]

# The security headers come first, so that every response carries them, refusals included.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "study.middleware.RefuseBadRequestsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "study.middleware.RequestBodyMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Each concern of the study app keeps its own templates (study/<concern>/templates/<concern>/...);
        # the shared ones (base pages, fields) are in study/templates/study/.
        "DIRS": sorted(BASE_DIR.glob("study/*/templates")),
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front: concurrent writers queue
    # instead of failing on a lock upgrade. WAL lets readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "researcher-home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Media files are content-addressed (their names never change), so browsers may keep them.
MEDIA_CACHE_SECONDS = int(os.environ.get("MEDIA_CACHE_SECONDS", str(365 * 24 * 3600)))

# Participants' pages post small forms; larger bodies are refused before any view runs.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(64 * 1024)))
# Researcher uploads (gaze data sets) stream to disk past this size.
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
GAZE_UPLOAD_MAX_BYTES = int(os.environ.get("GAZE_UPLOAD_MAX_BYTES", str(512 * 1024 * 1024)))
# A zip archive (a gaze data set, a builder's data set) may declare at most this many bytes unpacked, all
# its entries together (checked before anything is unpacked; each entry also stops at its declared size).
UNPACKED_MAX_BYTES = int(os.environ.get("UNPACKED_MAX_BYTES", str(2 * 1024**3)))
# Admin forms may carry an image (an arm's worked example).
ADMIN_UPLOAD_MAX_BYTES = int(os.environ.get("ADMIN_UPLOAD_MAX_BYTES", str(32 * 1024 * 1024)))
# The app's own temporary files (uploads, imports) live here and nowhere else; files older than
# TMP_MAX_AGE_SECONDS are swept at start-up and by `manage.py sweep_tmp`.
TMP_DIR = Path(os.environ.get("EXPLAINLAB_TMP", VAR_DIR / "tmp"))
FILE_UPLOAD_TEMP_DIR = str(TMP_DIR)
TMP_MAX_AGE_SECONDS = int(os.environ.get("TMP_MAX_AGE_SECONDS", str(6 * 3600)))

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["CACHE_URL"]}
    if os.environ.get("CACHE_URL")
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
CLIENT_ADDRESS_HEADER = os.environ.get("CLIENT_ADDRESS_HEADER", "REMOTE_ADDR")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# includeSubDomains and preload are a site-wide choice, not the app's: the deploy check need not ask for them.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts and styles from the site only: no inline script or style, no eval.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Where the explainer backend keeps its content-addressed cache and trained decoders.
EXPLAINER_CACHE_DIR = Path(os.environ.get("EXPLAINER_CACHE_DIR", VAR_DIR / "cache"))

# Jobs (study.jobs) run on Celery workers. CELERY_BROKER_URL: redis://host:6379/0 in production; empty:
# kombu's filesystem transport in VAR_DIR/celery (one machine, no server; `make demo` starts a worker).
# Job state lives in the database; Celery keeps no results.
JOBS_DIR = Path(os.environ.get("JOBS_DIR", VAR_DIR / "jobs"))  # uploads waiting for import, job outputs
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem"):
    _QUEUE_DIR = Path(os.environ.get("CELERY_QUEUE_DIR", VAR_DIR / "celery" / "queue"))
    _QUEUE_DIR.mkdir(parents=True, exist_ok=True)
    (_QUEUE_DIR.parent / "control").mkdir(exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(_QUEUE_DIR), "data_folder_out": str(_QUEUE_DIR),
                                       "control_folder": str(_QUEUE_DIR.parent / "control")}
else:  # a message whose worker died is delivered again after this many seconds (longer than any one task)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# `celery -A config beat` (or a worker with -B) sweeps stale temporary files every hour and removes
# the uploads of jobs that ended in failure over JOB_UPLOAD_KEEP_DAYS ago once a day.
CELERY_BEAT_SCHEDULE = {"sweep-tmp": {"task": "study.tasks.sweep_tmp", "schedule": 3600.0},
                        "drop-old-uploads": {"task": "study.tasks.drop_old_uploads", "schedule": 86400.0}}
# A running job reports after each batch; one silent for longer is taken as lost (its worker died).
JOB_STALE_SECONDS = int(os.environ.get("JOB_STALE_SECONDS", "600"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "3"))
# A failed or cancelled job keeps its uploaded files this long for Retry (then beat removes them daily).
JOB_UPLOAD_KEEP_DAYS = int(os.environ.get("JOB_UPLOAD_KEEP_DAYS", "7"))
JOB_SHARD_IMAGES = int(os.environ.get("JOB_SHARD_IMAGES", "256"))  # images per shard task on the gpu queue
JOB_DEVICE = os.environ.get("JOB_DEVICE", "auto")  # device of precompute and gaze report jobs

# A build decodes whole batches of data-set images: each may hold at most this many pixels (a batch of 64
# such images takes 64 x 3 bytes x IMAGE_MAX_PIXELS = 4.8 GB at the default 25 megapixels).
IMAGE_MAX_PIXELS = int(os.environ.get("IMAGE_MAX_PIXELS", str(25_000_000)))
# The study builder's upload: a zip of labelled images, a checkpoint and a class-name file (one request).
STUDY_UPLOAD_MAX_BYTES = int(os.environ.get("STUDY_UPLOAD_MAX_BYTES", str(1024 * 1024 * 1024)))
