"""python manage.py gaze_report DATASET --model SPEC --methods gradcam,lrp,deeplift,fem --out DIR."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.reports import to_markdown
from study import jobs
from study.models import GazeDataset
from study.management.model_spec import add_trust_argument, model_spec
from explainers.methods import ALIASES, REVIEW_TABLE_1
from explainers.precompute import CACHEABLE
from study.gaze.report import GazeReportError, gaze_report, parse_methods


class Command(BaseCommand):
    help = (
        "Explain each stimulus of a gaze data set for the model's top-1 class, score every map and the "
        "baselines (centre bias, inter-observer ceiling) against the gaze data and write per_image.csv, "
        "gaze_table.csv/.md/.tex, paired_tests.csv, mean_ranks.csv, the figures and report.html."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="gaze data set name")
        parser.add_argument("--model", required=True, help="'efficientnet-lite0' or a model spec JSON file")
        add_trust_argument(parser)
        parser.add_argument(
            "--methods",
            required=True,
            help=f"comma-separated, from {', '.join(CACHEABLE)} (aliases: {', '.join(sorted(ALIASES))}); "
            f"the JEI review's Table 1: {','.join(REVIEW_TABLE_1)}",
        )
        parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
        parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--enqueue", action="store_true",
                            help="hand the work to the Celery workers (a job) instead of running it here")

    def handle(self, dataset: str, **options):
        try:
            row = GazeDataset.objects.get(name=dataset)
        except GazeDataset.DoesNotExist:
            raise CommandError(f"No gaze data set named {dataset!r}.") from None
        spec = model_spec(options)
        if options["enqueue"]:
            try:
                methods = parse_methods(options["methods"])
            except GazeReportError as error:
                raise CommandError(str(error)) from error
            params = {"dataset": row.name, "model": options["model"], "methods": methods,
                      "device": options["device"], "batch_size": options["batch_size"]}
            job = jobs.enqueue("gaze_report", params)
            self.stdout.write(f"Queued job {job.pk}: gaze report of {row.name} (files on its job page).")
            return
        try:
            report = gaze_report(
                row,
                spec,
                parse_methods(options["methods"]),
                options["out"],
                device=options["device"],
                batch_size=options["batch_size"],
                progress=options["verbosity"] > 0,
            )
        except GazeReportError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(to_markdown(report.table))
        for path in report.files:
            self.stdout.write(str(path))
        self.stdout.write(f"{len(report.scores)} maps scored in {report.seconds:.1f} s.")
