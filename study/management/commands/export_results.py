"""python manage.py export_results SLUG --out DIR: write DIR/trials.csv and DIR/participants.csv."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from study.models import Study
from study.services.export import ExportError, write_exports


class Command(BaseCommand):
    help = "Write a study's trials.csv (one row per answer) and participants.csv into a folder."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")

    def handle(self, slug: str, out: Path, **options):
        try:
            study = Study.objects.get(slug=slug)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {slug!r}.") from None
        try:
            paths = write_exports(study, out)
        except ExportError as error:
            raise CommandError(str(error)) from error
        for path in paths:
            self.stdout.write(str(path))
