"""python manage.py build_demo: the demo study, its researcher login and the explanations gallery."""

from django.core.management.base import BaseCommand, CommandError

from explainers import ExplainerError
from study.services import demo
from study.services.build import BuildError
from study.services.datasets import DatasetError

PARTICIPANT_URL = "http://127.0.0.1:8000/s/{slug}/"


class Command(BaseCommand):
    help = (
        "Train (or reuse) the demo's Fashion-MNIST classifier and PV decoder, build the 'demo' study, "
        "explain a few photos for the gallery, and print the logins. The participant link comes last."
    )

    def handle(self, *args, **options):
        progress = options["verbosity"] > 0
        try:
            username, password = demo.ensure_researcher()
            result = demo.build_demo(progress=progress)
        except (BuildError, DatasetError, ExplainerError) as error:
            raise CommandError(str(error)) from error
        write = self.stdout.write
        state = "trained now" if result.classifier.trained_now else "cached"
        accuracy = result.classifier.test_accuracy
        write(f"demo classifier: test accuracy {accuracy:.1%} on 1,000 Fashion-MNIST test images ({state})")
        if result.decoder_ssim is not None:
            write(
                f"PV decoder: held-out SSIM {result.decoder_ssim:.3f} (mean-image baseline "
                f"{result.mean_image_ssim:.3f})"
            )
        write(
            f"study {result.study.slug!r}: {result.study.items.count()} items, "
            f"{'built now' if result.built_now else 'already built, left as it was'}"
        )
        write(f"gallery: {result.gallery_entries} photos explained")
        write(f"researcher pages: http://127.0.0.1:8000/r/  (login {username} / {password}, local demo only)")
        write(PARTICIPANT_URL.format(slug=result.study.slug))
