"""python manage.py precompute_heatmaps --model SPEC (--images DIR | --study SLUG) --methods gradcam,fem
[--targets ...] [--enqueue]"""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from explainers import ExplainerError, load_model, parse_methods
from explainers.precompute import CACHEABLE, precompute
from study import jobs
from study.management.model_spec import add_trust_argument, model_spec
from study.precompute import PrecomputeError, precompute_images


class Command(BaseCommand):
    help = "Compute explanation maps for a folder of images into the content-addressed map cache."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True,
                            help='"efficientnet-lite0" or a JSON model spec (see explainers.models)')
        add_trust_argument(parser)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--images", type=Path, help="a folder of images (searched recursively)")
        source.add_argument("--study", help="the slug of a study: its items' images")
        parser.add_argument("--methods", default="gradcam",
                            help=f"comma-separated, from {', '.join(CACHEABLE)} (or their aliases)")
        parser.add_argument("--targets", default="predicted",
                            help='"predicted" or comma-separated class indices explained for every image')
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--cache", type=Path, help="cache folder (default: settings.EXPLAINER_CACHE_DIR)")
        parser.add_argument("--enqueue", action="store_true",
                            help="hand the work to the Celery workers (a job) instead of running it here")

    def handle(self, *args, **options):
        folder = options["images"]
        if folder is not None and not folder.is_dir():
            raise CommandError(f"--images {folder} is not a folder")
        source = {"study": options["study"]} if options["study"] else {"folder": str(folder.resolve())}
        try:
            images = [Path(p) for p in precompute_images(source)]
        except PrecomputeError as error:
            raise CommandError(str(error)) from error
        try:
            methods = parse_methods(options["methods"], allowed=CACHEABLE)
        except ExplainerError as error:
            raise CommandError(str(error)) from error
        targets = options["targets"]
        if targets != "predicted":
            try:
                targets = [int(t) for t in targets.split(",")]
            except ValueError as error:
                raise CommandError(f'--targets must be "predicted" or class indices like 3,17: {error}')
        cache = options["cache"] or Path(settings.EXPLAINER_CACHE_DIR)
        spec = model_spec(options)
        if options["enqueue"]:
            if options["cache"]:
                raise CommandError("--cache is the workers' setting (EXPLAINER_CACHE_DIR) with --enqueue")
            job = jobs.enqueue("precompute", {
                "model": options["model"], **source, "methods": methods, "targets": targets,
                "batch_size": options["batch_size"], "device": options["device"]})
            self.stdout.write(f"Queued job {job.pk}: {len(images)} images x {len(methods)} method(s).")
            return
        try:
            records = precompute(load_model(spec), images, methods, targets=targets,
                                 batch_size=options["batch_size"], device=options["device"], cache_dir=cache,
                                 progress=options["verbosity"] > 0)
        except ExplainerError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{len(records)} maps for {len(images)} images and {len(methods)} method(s) "
                          f"in {cache}")
