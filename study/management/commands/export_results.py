"""python manage.py export_results SLUG --out DIR [--format csv|parquet|both]: write DIR/trials.csv and
DIR/participants.csv (spreadsheet-safe), and/or the same tables as .parquet (exact values)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from study.models import Study
from study.research.export import FORMATS, ExportError, write_exports


class Command(BaseCommand):
    help = "Write a study's trials.csv (one row per answer) and participants.csv into a folder."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
        parser.add_argument("--format", choices=[*FORMATS, "both"], default="csv",
                            help="csv (formula-like text quoted for spreadsheets), parquet (exact), or both")

    def handle(self, slug: str, out: Path, format: str, **options):
        try:
            study = Study.objects.get(slug=slug)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {slug!r}.") from None
        try:
            paths = write_exports(study, out, FORMATS if format == "both" else (format,))
        except ExportError as error:
            raise CommandError(str(error)) from error
        for path in paths:
            self.stdout.write(str(path))
