"""python manage.py evaluate_explainers --model SPEC --images DIR --methods gradcam,fem
--metrics deletion,insertion --out DIR"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis.reports import to_markdown
from evaluation import METRICS, EvaluationError
from evaluation.report import evaluate_explainers, parse_names
from explainers.methods import MAP_METHODS
from study import jobs
from study.management.model_spec import add_trust_argument, model_spec


class Command(BaseCommand):
    help = ("Score explanation methods on a folder of images (deletion/insertion AUC, Average Drop, "
            "Increase in Confidence, ADCC, pointing games, cascading randomisation, adversarial "
            "plausibility) and write scores.csv, table.csv/.md/.tex and the figures.")

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="'efficientnet-lite0' or a model spec JSON file")
        add_trust_argument(parser)
        parser.add_argument("--images", required=True, type=Path,
                            help="a folder of images, or a VOC folder (JPEGImages/ + Annotations/)")
        parser.add_argument("--methods", required=True,
                            help=f"comma-separated, from {', '.join(MAP_METHODS)}")
        parser.add_argument("--metrics", default="deletion,insertion",
                            help=f"comma-separated, from {', '.join(METRICS)}")
        parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
        parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--step", type=int,
                            help="pixels per deletion/insertion step (default: the input side)")
        parser.add_argument("--enqueue", action="store_true",
                            help="hand the work to the Celery workers (a job) instead of running it here")

    def handle(self, **options):
        try:
            methods = parse_names(options["methods"], MAP_METHODS, "--methods")
            metrics = parse_names(options["metrics"], METRICS, "--metrics")
        except EvaluationError as error:
            raise CommandError(str(error)) from error
        spec = model_spec(options)
        if options["enqueue"]:
            if not options["images"].is_dir():
                raise CommandError(f"--images {options['images']} is not a folder")
            job = jobs.enqueue("evaluation", {
                "model": options["model"], "images": str(options["images"].resolve()), "methods": methods,
                "metrics": metrics, "device": options["device"], "batch_size": options["batch_size"],
                "step": options["step"]})
            self.stdout.write(f"Queued job {job.pk}: evaluation of {', '.join(methods)} (files on its job page, "
                              "not --out).")
            return
        try:
            report = evaluate_explainers(
                spec, options["images"], methods, metrics, options["out"],
                device=options["device"], batch_size=options["batch_size"], step=options["step"],
                progress=options["verbosity"] > 0)
        except EvaluationError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(to_markdown(report.table))
        if report.flip_rate is not None:
            self.stdout.write(f"label-flip rate of the plausibility attack: {report.flip_rate:.3f}")
        for path in report.files:
            self.stdout.write(str(path))
