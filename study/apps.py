import importlib
import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class StudyConfig(AppConfig):
    name = "study"
    verbose_name = "Simulatability studies"

    def ready(self) -> None:
        """Register the deployment checks, the kinds of job and the Celery tasks (so that every process
        runs a job the same way, Celery's eager mode included), then create the temporary folder and
        sweep what killed processes left there (one directory scan)."""
        from study.tmp import sweep_stale

        for module in ("study.checks", "study.job_kinds", "study.tasks"):  # each registers itself on import
            importlib.import_module(module)

        try:
            sweep_stale()
        except OSError as error:  # a read-only deployment still serves pages; uploads will say why they fail
            logger.warning("cannot prepare the temporary folder: %s", error)
