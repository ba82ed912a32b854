import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class StudyConfig(AppConfig):
    name = "study"
    verbose_name = "Simulatability studies"

    def ready(self) -> None:
        """Create the temporary folder and sweep what killed processes left there (one directory scan)."""
        from study import checks  # noqa: F401  (registers the deployment checks)
        from study.tmp import sweep_stale

        try:
            sweep_stale()
        except OSError as error:  # a read-only deployment still serves pages; uploads will say why they fail
            logger.warning("cannot prepare the temporary folder: %s", error)
