"""python manage.py build_demo: the demo study, its researcher login (DEBUG=1 only), the explanations gallery
the photo studies of the agreement, distinction and attention designs, and the learn_predict study of a
model trained with a bias (biased.py)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from explainers import ExplainerError
from study.building import biased, demo, photos
from study.building.request import BuildError
from study.building.options import describe_distractors
from study.building.datasets import DatasetError

PARTICIPANT_URL = "http://127.0.0.1:8000/s/{slug}/"


class Command(BaseCommand):
    help = (
        "Train (or reuse) the demo's Fashion-MNIST classifier and PV decoder, build the 'demo' study, "
        "explain a few photos for the gallery, build the photo studies 'demo-agreement', "
        "'demo-distinction' and 'demo-attention' on them, train (or reuse) a classifier biased by a corner "
        "mark on Sandal and build 'demo-learn-predict' on it, and print the logins. The 'demo' participant "
        "link comes last. "
        "The demo login (a known password) is made only with DEBUG=1; with DEBUG=0 the study has no "
        "owner (superusers see it) and a demo password left in the database is disabled."
    )

    def handle(self, *args, **options):
        progress = options["verbosity"] > 0
        login = None
        try:
            if settings.DEBUG:
                login = demo.ensure_researcher()
            elif demo.disable_demo_password():
                self.stdout.write(f"disabled the known demo password of {demo.RESEARCHER!r} (DEBUG=0)")
            owner = get_user_model().objects.get(username=login[0]).pk if login else None
            result = demo.build_demo(progress=progress, owner_id=owner)
            photo_studies = photos.build_photo_studies(progress=progress, owner_id=owner)
            learn_predict, lp_built, bias = biased.build_learn_predict(progress=progress, owner_id=owner)
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
        write(describe_distractors(result.study.provenance))
        write(f"gallery: {result.gallery_entries} photos explained")
        write(
            f"biased classifier (a corner mark on {biased.MARKED_CLASS}): {bias['marked_share']:.0%} of "
            f"{bias['n']} marked held-out garments predicted {biased.MARKED_CLASS}, "
            f"{bias['flip_share']:.0%} of those flip with the mark deleted; Grad-CAM mass in the corner "
            f"{bias['corner_mass_marked']:.2f} marked, {bias['corner_mass_unmarked']:.2f} unmarked"
        )
        for study, built_now in [*photo_studies, (learn_predict, lp_built)]:
            arms = ", ".join(study.arms.order_by("pk").values_list("technique", flat=True))
            write(
                f"study {study.slug!r} ({study.design} design, arms {arms}): {study.items.count()} items, "
                f"{'built now' if built_now else 'already built, left as it was'}: "
                + PARTICIPANT_URL.format(slug=study.slug)
            )
        if login:
            username, password = login
            write(f"researcher pages: http://127.0.0.1:8000/r/  (login {username} / {password}, local demo only)")
        else:
            write("researcher pages: no demo login with DEBUG=0; use `manage.py createsuperuser`")
        write(PARTICIPANT_URL.format(slug=result.study.slug))
