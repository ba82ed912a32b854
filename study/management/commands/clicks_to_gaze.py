"""python manage.py clicks_to_gaze SLUG --sigma-px 20 [--name NAME] [--compare DATASET --out DIR]:
a study's clicks as a gaze data set (study.gaze.clicks), optionally compared with another data set."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.errors import AnalysisError
from analysis.reports import to_markdown
from study.gaze.clicks import clicks_dataset
from study.gaze.compare import compare_datasets
from study.gaze.importer import GazeImportError
from study.gaze.options import ImportOptions
from study.models import GazeDataset, Study


class Command(BaseCommand):
    help = (
        "Import the clicks of a study's completed participants as a gaze data set (one stimulus per item, "
        "GFDMs as for imported fixations); with --compare, score its GFDMs against another data set's "
        "on the stimuli of the same name."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the study")
        parser.add_argument("--name", help="data set name (default: SLUG-clicks)")
        parser.add_argument("--sigma-px", type=float, help="GFDM Gaussian sigma in pixels")
        parser.add_argument("--ppd", type=float, help="pixels per degree (sigma: 1 degree)")
        parser.add_argument("--compare", metavar="DATASET", help="a gaze data set to compare the clicks with")
        parser.add_argument("--out", type=Path, help="folder for the comparison's CSV and Markdown")

    def handle(self, slug: str, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study {slug!r}.")
        reference = None
        if options["compare"]:
            reference = GazeDataset.objects.filter(name=options["compare"]).first()
            if reference is None:
                raise CommandError(f"No gaze data set named {options['compare']!r}.")
        settings = ImportOptions(sigma_px=options["sigma_px"], pixels_per_degree=options["ppd"],
                                 task=f"clicks in study {slug}")
        try:
            dataset = clicks_dataset(study, options["name"], settings)
        except GazeImportError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Imported {dataset.name}: {dataset.stimuli.count()} stimuli, "
                          f"{dataset.n_observers} participants.")
        if reference is not None:
            try:
                _, table = compare_datasets(dataset, reference, options["out"])
            except AnalysisError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(to_markdown(table))
