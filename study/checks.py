"""Deployment checks of the app's own settings (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Warning, register

PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache",
                      "django.core.cache.backends.dummy.DummyCache")


@register(deploy=True)
def shared_cache(app_configs, **kwargs) -> list[Warning]:
    """The per-client limit of new participants is counted in the cache: with a cache per process each
    worker counts on its own, and a study lets in several times its limit."""
    if settings.CACHES["default"]["BACKEND"] not in PER_PROCESS_CACHES:
        return []
    return [Warning(
        "The cache is one per process, so Study.new_participants_per_client_hour is counted per worker "
        "and lets in up to (workers x limit) new participants per client.",
        hint="Set CACHE_URL=redis://host:6379/db so that every worker shares one count.",
        id="study.W001")]
