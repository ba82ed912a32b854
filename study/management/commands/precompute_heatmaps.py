"""python manage.py precompute_heatmaps --model SPEC --images DIR --methods gradcam,fem [--targets ...]"""
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from explainers import ExplainerError, load_model, parse_methods
from explainers.precompute import CACHEABLE, precompute

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class Command(BaseCommand):
    help = "Compute explanation maps for a folder of images into the content-addressed map cache."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True,
                            help='"efficientnet-lite0" or a JSON model spec (see explainers.models)')
        parser.add_argument("--images", required=True, type=Path,
                            help="a folder of images (searched recursively)")
        parser.add_argument("--methods", default="gradcam",
                            help=f"comma-separated, from {', '.join(CACHEABLE)} (or their aliases)")
        parser.add_argument("--targets", default="predicted",
                            help='"predicted" or comma-separated class indices explained for every image')
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--cache", type=Path, help="cache folder (default: settings.EXPLAINER_CACHE_DIR)")

    def handle(self, *args, **options):
        folder = options["images"]
        if not folder.is_dir():
            raise CommandError(f"--images {folder} is not a folder")
        images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise CommandError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {folder}")
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
        try:
            records = precompute(load_model(options["model"]), images, methods, targets=targets,
                                 batch_size=options["batch_size"], device=options["device"], cache_dir=cache,
                                 progress=options["verbosity"] > 0)
        except ExplainerError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{len(records)} maps for {len(images)} images and {len(methods)} method(s) "
                          f"in {cache}")
