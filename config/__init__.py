"""Django project package; the Celery app is loaded with it so that tasks can be sent."""
from config.celery import app as celery_app

__all__ = ["celery_app"]
