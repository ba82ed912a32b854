"""python manage.py build_study SLUG --model SPEC --dataset PATH [--arms gradcam,pv] ..."""

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from explainers import ExplainerError
from explainers.pv import MIN_PSNR_MARGIN_DB, MIN_SSIM_MARGIN
from study import jobs
from study.building.build import build_study
from study.building.request import BuildError, BuildRequest
from study.building.builder import build_claim
from study.building.options import DISTRACTORS, TOPK_MIN_CLASSES, parse_class_list
from study.management.owner import add_owner_argument, owner_id
from study.management.model_spec import add_trust_argument, model_spec
from study.models.study import CONTROL
from study.building.datasets import DatasetError
from study.survey.designs import DESIGNS
from study.survey.questionnaire import QuestionnaireError, check_confidence_rating, parse_questionnaire


class Command(BaseCommand):
    help = "Build a (draft) simulatability study from a classifier and a labelled image set."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--model", required=True, help='"efficientnet-lite0" or a JSON model spec (see explainers.models)'
        )
        add_trust_argument(parser)
        parser.add_argument(
            "--dataset",
            required=True,
            type=Path,
            help="a folder with labels.csv (image,labels with ';' between labels), a CSV file, "
            "or a PASCAL VOC folder (JPEGImages/, Annotations/)",
        )
        parser.add_argument(
            "--arms", default="gradcam,pv",
            help=f"comma-separated explanation methods, one arm each; {CONTROL}: a control arm (the image "
                 "alone)"
        )
        parser.add_argument("--design", default="simulation", choices=list(DESIGNS),
                            help="what each question shows and asks: simulation (guess the prediction, the PV "
                                 "paper), agreement or distinction (HIVE's tasks), learn_predict (rounds "
                                 "of learning, then predicting the model; Colin et al.)")
        parser.add_argument("--design-options", type=json_object, default={}, metavar="JSON",
                            help='the design\'s options as a JSON object: distinction {"k": 4, "show_labels": '
                                 'false, "ask_correct_class": false}; agreement {"scale": [labels, most '
                                 'confident the prediction is correct first]}; learn_predict {"rounds": '
                                 '3, "train_per_round": 4, "test_per_round": 4, "error_share": 0.25, '
                                 '"feedback": false}')
        parser.add_argument("--attention-block", type=json_object, metavar="JSON",
                            help='a BubbleView block on every image before the questions, with the attention '
                                 'design\'s options as a JSON object ({} for its defaults), e.g. '
                                 '{"sigma": 40, "radius": 40, "min_clicks": 5, "max_clicks": 100, '
                                 '"time_limit_s": 0, "task": "..."}')
        parser.add_argument("--n-correct", type=int, default=16)
        parser.add_argument("--n-incorrect", type=int, default=14)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--decoder", type=Path, help="PV decoder checkpoint (trained and cached if absent)"
        )
        parser.add_argument("--decoder-epochs", type=int, default=10)
        parser.add_argument("--decoder-layer", default="",
                            help="layer the PV decoder inverts (default: the model's target layer)")
        parser.add_argument("--decoder-min-ssim-margin", type=float, default=MIN_SSIM_MARGIN,
                            help="held-out SSIM the decoder must gain over the mean image (else: no build)")
        parser.add_argument("--decoder-min-psnr-margin", type=float, default=MIN_PSNR_MARGIN_DB,
                            help="held-out PSNR (dB) the decoder must gain over the mean image")
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
        parser.add_argument("--title", default="")
        parser.add_argument(
            "--replace", action="store_true", help="rebuild an existing study without participants"
        )
        parser.add_argument("--confidence-rating", type=int, default=0, metavar="N",
                            help="ask for a confidence rating 1..N (2-10) with each answer; 0: none")
        parser.add_argument("--questionnaire", type=Path, metavar="FILE.json",
                            help="questionnaire blocks before/after the questions, as JSON "
                                 "(format: README, study.survey.questionnaire)")
        parser.add_argument("--distractors", default="auto", choices=["auto", *DISTRACTORS],
                            help="how the options are filled up after the prediction and the other true "
                                 "labels: topk (the model's next most likely classes for the image), subset "
                                 "(random classes of --distractor-classes) or random; auto: topk for models "
                                 f"with more than {TOPK_MIN_CLASSES} classes, random otherwise")
        parser.add_argument("--distractor-classes", type=Path, metavar="FILE",
                            help="a text file of class names, one per line: the subset of "
                                 "--distractors subset (given alone, it means subset)")
        parser.add_argument("--open", action="store_true",
                            help="open the study at once (default: a draft, opened from the study page "
                                 "once its consent text and redirect are reviewed)")
        add_owner_argument(parser)
        parser.add_argument("--enqueue", action="store_true",
                            help="hand the work to the Celery workers (a job) instead of running it here")

    def handle(self, *args, **options):
        questionnaire = read_questionnaire(options["questionnaire"])
        distractor_classes = read_class_list(options["distractor_classes"])
        try:
            check_confidence_rating(options["confidence_rating"])
        except QuestionnaireError as error:
            raise CommandError(f"--confidence-rating: {error}") from None
        request = BuildRequest(
            slug=options["slug"],
            model=model_spec(options),
            dataset=options["dataset"],
            arms=tuple(arm.strip() for arm in options["arms"].split(",") if arm.strip()),
            design=options["design"],
            design_options=options["design_options"],
            attention_block=options["attention_block"],
            n_correct=options["n_correct"],
            n_incorrect=options["n_incorrect"],
            seed=options["seed"],
            decoder=options["decoder"],
            decoder_epochs=options["decoder_epochs"],
            decoder_layer=options["decoder_layer"],
            decoder_min_ssim_margin=options["decoder_min_ssim_margin"],
            decoder_min_psnr_margin=options["decoder_min_psnr_margin"],
            batch_size=options["batch_size"],
            device=options["device"],
            replace=options["replace"],
            title=options["title"],
            owner_id=owner_id(options["owner"]),
            confidence_rating=options["confidence_rating"],
            questionnaire=questionnaire,
            distractors=options["distractors"],
            distractor_classes=distractor_classes,
            open=options["open"],
        )
        if options["enqueue"]:
            params = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(request).items()}
            try:
                job = jobs.enqueue("build_study", params, claim=build_claim(request.slug))
            except jobs.JobClaimed as error:
                raise CommandError(f"a build of {request.slug!r} is already queued: {error}") from None
            self.stdout.write(f"Queued job {job.pk}: build of study {request.slug}.")
            return
        try:
            study = build_study(request, progress=options["verbosity"] > 0)
        except (BuildError, DatasetError, ExplainerError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"built study {study.slug!r}: {study.items.count()} items, "
            f"arms {', '.join(study.arms.values_list('technique', flat=True))}"
        )


def read_questionnaire(path: Path | None) -> dict | None:
    """The questionnaire definition in `path`, checked; a CommandError naming the file and field otherwise."""
    if path is None:
        return None
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"--questionnaire {path}: cannot read the file: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CommandError(f"--questionnaire {path}: not valid JSON: {error}") from None
    try:
        parse_questionnaire(document)
    except QuestionnaireError as error:
        raise CommandError(f"--questionnaire {path}: {error}") from None
    return document


def read_class_list(path: Path | None) -> tuple[str, ...]:
    """The class names in `path`, one per line; a CommandError naming the file when it cannot be read."""
    if path is None:
        return ()
    try:
        return parse_class_list(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"--distractor-classes {path}: cannot read the file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise CommandError(f"--distractor-classes {path}: not UTF-8 text") from None


def json_object(text: str) -> dict:
    """--design-options and --attention-block: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object, e.g. {\"k\": 4}")
    return value
