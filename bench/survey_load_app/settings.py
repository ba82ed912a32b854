"""Production settings (config.settings, from the environment) with the bench's URLs added."""
from config.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.survey_load_app.urls"
