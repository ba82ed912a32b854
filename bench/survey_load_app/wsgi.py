"""config.wsgi with every view module imported before gunicorn forks (--preload), not on each
worker's first request."""
from django.urls import get_resolver

from config.wsgi import application

get_resolver().url_patterns  # noqa: B018 (imports the URLconf and its views)

__all__ = ["application"]
