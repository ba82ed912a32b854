"""python manage.py compare_decoders A B --model SPEC --images DIR: how alike are two decoders' reconstructions?"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from explainers import ExplainerError, load_model
from explainers.pv import compare_decoders, image_files, load_decoder, load_images
from study.management.model_spec import add_trust_argument, model_spec


class Command(BaseCommand):
    help = (
        "Compare two PV decoders of one model (e.g. trained on different image sets): SSIM and Pearson r "
        "between their reconstructions of each image, with mean and SD, and each decoder's SSIM and PSNR "
        "margin over the images' mean image."
    )

    def add_arguments(self, parser):
        parser.add_argument("a", type=Path, help="first decoder checkpoint")
        parser.add_argument("b", type=Path, help="second decoder checkpoint")
        parser.add_argument(
            "--model", required=True, help='"efficientnet-lite0" or a JSON model spec (see explainers.models)'
        )
        add_trust_argument(parser)
        parser.add_argument("--images", required=True, type=Path, help="folder of images to reconstruct")
        parser.add_argument("--batch-size", type=int, default=32)

    def handle(self, *args, **options):
        try:
            model = load_model(model_spec(options))
            a, b = load_decoder(options["a"], model), load_decoder(options["b"], model)
            files = image_files(options["images"])
            result = compare_decoders(
                a, b, model, load_images(files, model.input_size), options["batch_size"]
            )
        except ExplainerError as error:
            raise CommandError(str(error)) from error
        folder = options["images"]
        width = max(len("image"), *(len(str(f.relative_to(folder))) for f in files))
        self.stdout.write(f"{'image':<{width}}  {'SSIM':>7}  {'Pearson r':>9}")
        for file, s, r in zip(files, result.ssim, result.pearson):
            self.stdout.write(f"{file.relative_to(folder)!s:<{width}}  {s:>7.4f}  {r:>9.4f}")
        self.stdout.write(
            f"{'mean +- SD':<{width}}  {result.ssim_mean:.4f} +- {result.ssim_sd:.4f}  "
            f"{result.pearson_mean:.4f} +- {result.pearson_sd:.4f}  ({len(files)} images)"
        )
        # Two decoders that both draw the mean image agree perfectly: their margins say whether either
        # shows anything.
        for name, quality in (("A", result.quality_a), ("B", result.quality_b)):
            self.stdout.write(f"decoder {name} ({options[name.lower()]}) against the images: "
                              f"{quality.summary()}")
