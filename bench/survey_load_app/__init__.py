"""The app as deployed, plus one trivial view: what bench/survey_load.py serves under gunicorn."""
