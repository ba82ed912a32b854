"""The app's temporary files: one folder (settings.TMP_DIR) for uploads and imports, swept of stale entries.

Uploads stream there (FILE_UPLOAD_TEMP_DIR) and imports stage there; both remove their files when
they end, on success, failure or a worker's timeout (gunicorn's abort raises SystemExit, which runs
the clean-ups). Only a killed process (SIGKILL, a power cut) leaves files behind: `sweep_stale`
removes entries older than TMP_MAX_AGE_SECONDS, at start-up and from `manage.py sweep_tmp`.
"""

import logging
import shutil
import time
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)


def tmp_dir() -> Path:
    """settings.TMP_DIR, created if missing (mode 0700: uploads are research data)."""
    path = Path(settings.TMP_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def sweep_stale(max_age_s: float | None = None, now: float | None = None) -> list[Path]:
    """Remove the files and folders directly under TMP_DIR last modified more than `max_age_s` seconds
    ago (default TMP_MAX_AGE_SECONDS); return what was removed."""
    max_age_s = settings.TMP_MAX_AGE_SECONDS if max_age_s is None else max_age_s
    cutoff = (time.time() if now is None else now) - max_age_s
    removed = []
    for entry in tmp_dir().iterdir():
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:  # removed meanwhile by its owner or another sweep
            continue
        removed.append(entry)
    if removed:
        logger.warning("removed %d stale temporary file(s) from %s", len(removed), settings.TMP_DIR)
    return removed

