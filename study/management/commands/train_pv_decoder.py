"""python manage.py train_pv_decoder --model SPEC (--images DIR | --study SLUG) --out PATH [--epochs N] ..."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from explainers import ExplainerError, load_model
from explainers.pv import train_decoder
from study.management.model_spec import add_trust_argument, model_spec
from study.models import Study
from study.building.datasets import DatasetError, load_dataset


def study_images(slug: str) -> list[Path]:
    """The image files of the data set the study `slug` was built from (recorded in its provenance)."""
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        raise CommandError(f"No study with slug {slug!r}.")
    path = study.provenance.get("dataset", {}).get("path")
    if not path:
        raise CommandError(f"Study {slug!r} records no data set; pass --images instead.")
    try:
        return [image.path for image in load_dataset(path).images]
    except DatasetError as error:
        raise CommandError(str(error)) from error


class Command(BaseCommand):
    help = "Train a Perception Visualization decoder that reconstructs images from a model's features."

    def add_arguments(self, parser):
        parser.add_argument(
            "--model", required=True, help='"efficientnet-lite0" or a JSON model spec (see explainers.models)'
        )
        add_trust_argument(parser)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--images", type=Path, help="folder of training images (searched recursively)")
        source.add_argument("--study", help="slug of a study: train on the data set it was built from")
        parser.add_argument("--out", required=True, type=Path, help="decoder checkpoint to write (.pt)")
        parser.add_argument("--epochs", type=int, default=10, help="total epochs (also when resuming)")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--val-fraction", type=float, default=0.1, help="share of the images held out")
        parser.add_argument("--no-augment", action="store_true", help="no random crops and flips")
        parser.add_argument("--resume", action="store_true", help="continue the checkpoint at --out")

    def handle(self, *args, **options):
        images = options["images"] or study_images(options["study"])
        try:
            model = load_model(model_spec(options))
            result = train_decoder(
                model,
                images,
                options["out"],
                epochs=options["epochs"],
                batch_size=options["batch_size"],
                lr=options["lr"],
                seed=options["seed"],
                device=options["device"],
                val_fraction=options["val_fraction"],
                augment=not options["no_augment"],
                resume=options["resume"],
                progress=options["verbosity"] > 0,
            )
        except ExplainerError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"{'epoch':>5}  {'train loss':>10}  {'held-out loss':>13}  {'SSIM':>6}  {'PSNR dB':>7}"
        )
        for stats in result.history:
            self.stdout.write(
                f"{stats.epoch:>5}  {stats.train_loss:>10.4f}  {stats.val_loss:>13.4f}  "
                f"{stats.val_ssim:>6.4f}  {stats.val_psnr:>7.2f}"
            )
        self.stdout.write(
            f"held-out images: {result.n_val}; SSIM of the training set's mean image: "
            f"{result.mean_image_ssim:.4f}"
        )
        self.stdout.write(f"decoder written to {result.path}")
