"""The Celery app: workers run jobs (`study.tasks`). Broker from CELERY_BROKER_URL (Redis in
production); without one, kombu's filesystem transport under VAR_DIR (no server to run)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("explainlab")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
