"""python manage.py sweep_tmp [--max-age SECONDS]: remove stale temporary files of uploads and imports."""

from django.core.management.base import BaseCommand

from study.tmp import sweep_stale


class Command(BaseCommand):
    help = "Remove files under TMP_DIR older than TMP_MAX_AGE_SECONDS (left behind by killed workers)."

    def add_arguments(self, parser):
        parser.add_argument("--max-age", type=float, help="age in seconds (default: TMP_MAX_AGE_SECONDS)")

    def handle(self, *args, max_age: float | None = None, **options):
        removed = sweep_stale(max_age)
        self.stdout.write(f"removed {len(removed)} stale temporary file(s)")
