"""python manage.py analyze_study SLUG --out DIR: the survey's Table 1, Mann-Whitney tests and histograms."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.errors import AnalysisError
from analysis.simulatability import EXACT_MAX_TOTAL, METHODS
from study import jobs
from study.models import Study
from study.research.analysis import write_study_analysis


class Command(BaseCommand):
    help = (
        "Analyse a study's answers (completed participants only): write table1.csv/.md/.tex, "
        "mannwhitney.csv/.tex (each p naming its method), mixed_model.csv, cant_tell.csv, questions.csv, "
        "participation.csv, the accuracy histograms (table1.md opens with how the options were chosen), "
        "and with ratings or questionnaires confidence.csv, "
        "questionnaire_options.csv and questionnaire_numbers.csv."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the study's slug")
        parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
        parser.add_argument(
            "--method", choices=METHODS, default="auto",
            help="Mann-Whitney p-values: exact (permutation with ties), asymptotic (the PV paper's normal "
                 f"approximation) or auto (exact up to {EXACT_MAX_TOTAL} participants in the two arms)",
        )
        parser.add_argument("--enqueue", action="store_true",
                            help="hand the work to the Celery workers (a job) instead of running it here")

    def handle(self, slug: str, out: Path, method: str, **options):
        try:
            study = Study.objects.get(slug=slug)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {slug!r}.") from None
        if options["enqueue"]:
            job = jobs.enqueue("analysis", {"study": slug, "method": method})
            self.stdout.write(f"Queued job {job.pk}: analysis of {slug} (files on its job page, not --out).")
            return
        try:
            paths = write_study_analysis(study, out, method)
        except AnalysisError as error:
            raise CommandError(f"Cannot analyse study {slug!r}: {error}") from error
        except OSError as error:
            raise CommandError(f"Cannot write into {out}: {error}") from error
        for path in paths:
            self.stdout.write(str(path))
