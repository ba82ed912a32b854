"""python manage.py import_gaze NAME PATH: import a gaze data set from a folder or a zip archive."""

from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from study import jobs
from study.management.owner import add_owner_argument, owner_id
from study.gaze.importer import GazeImportError, import_gaze_path
from study.gaze.options import ImportOptions
class Command(BaseCommand):
    help = (
        "Import stimuli/ with fixation_maps/ (GFDM images or .npy/.npz arrays) and/or a fixation "
        "table (fixations.csv/.tsv), all or nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="data set name (letters, digits, '-', '_')")
        parser.add_argument(
            "path", type=Path, help="folder or .zip laid out as stimuli/ + fixation_maps/ or a table"
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--task", default="", help="what observers did, e.g. 'free viewing, 3 s'")
        parser.add_argument("--observers", type=int, help="number of observers")
        parser.add_argument("--ppd", type=float, help="pixels per degree of visual angle")
        parser.add_argument(
            "--sigma-px",
            type=float,
            help="GFDM Gaussian sigma in pixels for fixations (default: 1 degree at --ppd)",
        )
        parser.add_argument("--resample", action="store_true", help="resize maps to their stimulus' size")
        parser.add_argument(
            "--weight-by-duration", action="store_true", help="weigh fixations by their duration in GFDMs"
        )
        add_owner_argument(parser)
        parser.add_argument("--enqueue", action="store_true",
                            help="hand the work to the Celery workers (a job) instead of running it here")

    def handle(self, name: str, path: Path, **options):
        settings = ImportOptions(
            description=options["description"],
            task=options["task"],
            n_observers=options["observers"],
            pixels_per_degree=options["ppd"],
            sigma_px=options["sigma_px"],
            resample=options["resample"],
            weight_by_duration=options["weight_by_duration"],
            owner_id=owner_id(options["owner"]),
        )
        if options["enqueue"]:
            job = jobs.enqueue("gaze_import", {"name": name, "path": str(path.resolve()),
                                               "options": asdict(settings)})
            self.stdout.write(f"Queued job {job.pk}: gaze import of {path} as {name}.")
            return
        try:
            dataset = import_gaze_path(name, path, settings, progress=options["verbosity"] > 0)
        except GazeImportError as error:
            raise CommandError(str(error)) from error
        stimuli = dataset.stimuli.count()
        self.stdout.write(f"Imported {dataset.name}: {stimuli} stimuli ({dataset.source_format}).")
