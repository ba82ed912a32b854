"""Build a simulatability study from a classifier and a labelled image set.

`build_study` classifies every image, keeps the items the PV paper's rules allow, samples the
requested numbers reproducibly, composes one option set per item, renders one stimulus per item
and arm through `explainers`, and creates the study in one transaction. Nothing is written to the
database, and no file is left behind, when any step fails.
"""

import hashlib
import io
import json
import os
import platform
import random
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import django
import numpy as np
import torch
import torchvision
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F as DbF
from django.utils.html import escape
from PIL import Image, UnidentifiedImageError
from torch.nn import functional as F
from tqdm import tqdm

import explainers
from explainers import LoadedModel, load_model, predict
from explainers.pv import (
    MIN_PSNR_MARGIN_DB,
    MIN_SSIM_MARGIN,
    TrainResult,
    check_quality,
    decoder_quality,
    load_decoder,
    load_images,
    train_decoder,
)
from explainers.render import jet_overlay, resize_maps, to_png, white_mask
from study.models import Arm, Item, Stimulus, Study
from study.progress import Report, silent
from study.building.datasets import Dataset, DatasetError, LabelledImage, load_dataset
from study.building.options import N_RANKED, TOPK_MIN_CLASSES, compose_options, distractors_problem
from study.survey.questionnaire import (
    QuestionnaireError,
    check_confidence_rating,
    create_blocks,
    parse_questionnaire,
)

CONSENT_TEXT = (  # HTML, shown as it is (a study's consent_text)
    "<p>You will see {n} images, each with an explanation of an image classifier's decision, and guess "
    "what the classifier predicted. It takes about 10 minutes.</p>"
    "<p>We store your answers and response times under a random code. If you came from a recruitment "
    "platform, we also store the IDs it put in your study link (such as your Prolific ID and session "
    "ID), so that you can be paid; the researchers see them with your answers. We store nothing else "
    "that identifies you.</p>"
    "<p>You may stop at any time.</p>"
)
DISPLAY_SIZE = 224  # pixels on the longer side of item images and stimuli
EXAMPLE_GAP = 8  # transparent pixels between the image and its explanation in an arm's worked example
# How a map becomes a stimulus (PV arms always show the decoder's picture): "white_mask" keeps the image
# where the map is high and fades the rest to white (the PV paper); "jet" blends a jet colour map over it.
RENDERINGS = {"white_mask": white_mask, "jet": jet_overlay}

# What a participant reads about each technique on the intro page: a name and what it shows, in plain words
# (every method in explainers.METHODS; no raw method key). How a map is drawn follows in RENDERING_NOTES.
TECHNIQUES = {
    "gradcam": ("Grad-CAM", "Grad-CAM highlights the regions of the image that most increased the model's "
                "score for the class it predicted."),
    "gradcam++": ("Grad-CAM++", "Grad-CAM++ highlights the regions of the image that increased the model's "
                  "score for the class it predicted, and can pick out several objects of that class at "
                  "once."),
    "xgradcam": ("XGrad-CAM", "XGrad-CAM, a variant of Grad-CAM, highlights the regions of the image that "
                 "most increased the model's score for the class it predicted."),
    "layercam": ("LayerCAM", "LayerCAM highlights the regions of the image that increased the model's score "
                 "for the class it predicted, judging each spot on its own, which gives finer detail."),
    "scorecam": ("Score-CAM", "Score-CAM shows the model parts of the image on their own and measures how "
                 "much each part alone raises its score for the class it predicted."),
    "fem": ("Feature Explanation Method", "This method highlights the regions where the model's internal "
            "features respond unusually strongly: what stood out to the model, whatever it predicted."),
    "cam": ("Class Activation Mapping", "Class Activation Mapping highlights the regions that the model's "
            "last layer counted most towards the class it predicted."),
    "guided_gradcam": ("Guided Grad-CAM", "Guided Grad-CAM keeps the fine detail (edges, textures) inside "
                       "the regions that most increased the model's score for the class it predicted."),
    "reciprocam": ("Recipro-CAM", "Recipro-CAM highlights the regions of the image that, kept on their own, "
                   "best keep the model's score for the class it predicted."),
    "smooth_gradcam++": ("Smooth Grad-CAM++", "Smooth Grad-CAM++ averages Grad-CAM++ over many slightly "
                         "noisy copies of the image: the regions that steadily increased the model's score "
                         "for the class it predicted."),
    "gradient": ("Saliency map", "A saliency map marks the pixels where the smallest change would change "
                 "the model's score for the class it predicted the most."),
    "smoothgrad": ("SmoothGrad", "SmoothGrad averages a saliency map over many slightly noisy copies of the "
                   "image: the pixels whose change most affects the model's score for the class it "
                   "predicted, with less speckle."),
    "integrated_gradients": ("Integrated Gradients", "Integrated Gradients fades the image in from a blank "
                             "one and adds up how much each pixel raised the model's score for the class it "
                             "predicted along the way."),
    "guided_backprop": ("Guided Backpropagation", "Guided Backpropagation traces the model's decision back "
                        "to the pixels, keeping only what raised its score for the class it predicted; it "
                        "tends to show edges and fine detail."),
    "gradient_x_input": ("Gradient × Input", "This method weighs each pixel by how strongly the model's "
                         "score for the class it predicted reacts to it: the pixels that contributed most."),
    "deconvnet": ("DeconvNet", "DeconvNet traces the model's internal features back to the pixels that "
                  "set them off: the patterns the model responded to."),
    "deeplift": ("DeepLIFT", "DeepLIFT compares the image with a blank one and shares out the difference in "
                 "the model's score for the class it predicted among the pixels."),
    "lrp": ("Layer-wise Relevance Propagation", "Layer-wise Relevance Propagation passes the model's score "
            "for the class it predicted back through the network, layer by layer, sharing it out among the "
            "pixels by how much each contributed."),
    "smoothgrad_squared": ("SmoothGrad²", "SmoothGrad² averages a saliency map over many slightly noisy "
                           "copies of the image, squaring each first, so that only the strongest evidence "
                           "for the class the model predicted stands out."),
    "vargrad": ("VarGrad", "VarGrad shows how much each pixel's importance varies over many slightly noisy "
                "copies of the image: the pixels the model's score for the class it predicted keeps "
                "reacting to stand out."),
    "occlusion": ("Occlusion", "This method covers one small patch of the image at a time and measures how "
                  "much the model's score for the class it predicted drops: the patches whose covering "
                  "hurt most mattered most."),
    "rise": ("Randomized Input Sampling", "This method shows the model many copies of the image with random "
             "parts hidden and notes which visible parts kept its score for the class it predicted high."),
    "lime": ("LIME", "This method splits the image into patches, shows the model many "
             "versions with some patches hidden, and fits a simple model that tells which patches drive the "
             "class it predicted."),
    "pv": (
        "Perception Visualization",
        "Perception Visualization shows what the model saw, not only where: "
        "the highlighted regions are redrawn from the model's own internal features by a decoder "
        "network, and the rest of the image is white. Shapes and textures the model picked up appear; "
        "details it ignored are blurred or missing.",
    ),
}
# How a map-based explanation is drawn, one sentence per key of RENDERINGS (PV shows its own picture).
RENDERING_NOTES = {
    "white_mask": "The rest of the image is faded to white: what you still see is what mattered most.",
    "jet": "Colours laid over the image show how much each part mattered: red most, then yellow, green, and "
           "blue least.",
}


class BuildError(Exception):
    """The study cannot be built as asked (too few items, existing slug, unknown arm, ...)."""


@dataclass(frozen=True)
class Classified:
    """One image with the model's verdict under the paper's rules."""

    image: LabelledImage
    top1: str
    predicted: tuple[str, ...]  # the predicted label set (multi-label), or (top1,)
    correct: bool | None  # True: correct, False: incorrect, None: neither (partly right)
    ranked: tuple[str, ...] = ()  # the model's N_RANKED most likely classes, most likely first


@dataclass(frozen=True)
class BuildRequest:
    slug: str
    model: str | dict  # a spec for explainers.load_model
    dataset: Path
    arms: tuple[str, ...] = ("gradcam", "pv")
    n_correct: int = 16
    n_incorrect: int = 14
    seed: int = 0
    decoder: Path | None = None  # a PV decoder for this model; trained and cached when absent
    decoder_epochs: int = 10
    # The layer the PV decoder inverts; empty: the model's target layer, the one the explanations are taken
    # from (the last convolutional block unless the model spec names another), as the PV paper does.
    decoder_layer: str = ""
    # The quality gate: the decoder must beat the mean image on held-out images by these margins.
    decoder_min_ssim_margin: float = MIN_SSIM_MARGIN
    decoder_min_psnr_margin: float = MIN_PSNR_MARGIN_DB
    batch_size: int = 64
    device: str = "cpu"
    replace: bool = False
    title: str = ""
    method_params: dict = field(default_factory=dict)  # per technique, e.g. {"scorecam": {"chunk_size": 16}}
    owner_id: int | None = None  # the user who owns the study (None: superusers only)
    rendering: str = "white_mask"  # a key of RENDERINGS
    # Attention checks: extra items, each an unmasked image the model classified correctly (in every arm),
    # whose expected answer is that class; at these 1-based question positions (fixed order), or spread
    # evenly when none are given.
    attention_checks: int = 0
    attention_positions: tuple[int, ...] = ()
    confidence_rating: int = 0  # ask for a confidence rating 1..N with each answer (0: none; N in 2..10)
    questionnaire: dict | None = None  # blocks before/after the questions (study.survey.questionnaire)
    distractors: str = "auto"  # "auto" or a key of DISTRACTORS: how the options are filled up
    distractor_classes: tuple[str, ...] = ()  # the class subset of "subset" (given alone it means "subset")
    # Open the study at once; by default it is a draft that the researcher opens from the study page once
    # its consent text and redirect are reviewed.
    open: bool = False

    def key(self) -> str:
        """A digest of every parameter that shapes the study (the later options only when not default,
        so studies built before them keep their key)."""
        defaults = {f.name: f.default for f in fields(self) if f.name in _LATER_OPTIONS}
        data = asdict(self) | {"replace": None, "device": None, "batch_size": None, "owner_id": None,
                               "open": None}
        data = {k: v for k, v in data.items() if k not in defaults or tuple_or(v) != tuple_or(defaults[k])}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


_LATER_OPTIONS = ("rendering", "attention_checks", "attention_positions", "confidence_rating",
                  "questionnaire", "distractors", "distractor_classes", "decoder_layer",
                  "decoder_min_ssim_margin", "decoder_min_psnr_margin")


def tuple_or(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def attention_positions(request: BuildRequest, n_questions: int) -> list[int]:
    """The 0-based positions of the attention checks among `n_questions` questions (checks included):
    the requested 1-based positions, or spread evenly (never first or last when there is room)."""
    if request.attention_positions:
        return sorted(p - 1 for p in request.attention_positions)
    k = request.attention_checks
    return [round((i + 1) * n_questions / (k + 1)) - (1 if k else 0) for i in range(k)] if k else []


def judge(top1: str, predicted: Sequence[str], truth: Sequence[str], multi_label: bool) -> bool | None:
    """The paper's rules. Multi-label: correct when the predicted set equals the true set, incorrect
    when no true label is predicted, otherwise neither (None). Single-label: top-1 right or wrong."""
    if not multi_label:
        return top1 in truth
    if set(predicted) == set(truth):
        return True
    return False if not set(predicted) & set(truth) else None


def classify(
    model: LoadedModel, dataset: Dataset, batch_size: int = 64, progress: bool = True, report: Report = silent
) -> list[Classified]:
    """Run the model over every image of the data set in batches; one verdict per image, in data-set order."""
    results = []
    names = model.class_names
    report(0, len(dataset.images), "classifying the images")
    for start in tqdm(
        range(0, len(dataset.images), batch_size), desc="classifying", unit="batch", disable=not progress
    ):
        chunk = dataset.images[start : start + batch_size]
        probabilities = predict(model, model.preprocess([open_image(image) for image in chunk])).cpu()
        for image, p in zip(chunk, probabilities):
            top1 = names[int(p.argmax())]
            predicted = (
                tuple(sorted(names[i] for i in torch.nonzero(p >= model.threshold).flatten().tolist()))
                if model.multi_label
                else (top1,)
            )
            predicted = predicted or (top1,)  # a model always predicts something: its top-1 at least
            ranked = tuple(names[i] for i in p.topk(min(N_RANKED, len(names))).indices.tolist())
            verdict = judge(top1, predicted, image.labels, model.multi_label)
            results.append(Classified(image, top1, predicted, verdict, ranked))
        report(len(results), len(dataset.images), "classifying the images")
    return results


def sample(candidates: Sequence[Classified], n: int, rng: random.Random, kind: str) -> list[Classified]:
    """n candidates drawn reproducibly, stratified by the model's top-1 class (round-robin over the
    classes in a seeded order), so the answers to guess are spread over the classes."""
    if len(candidates) < n:
        raise BuildError(
            f"only {len(candidates)} {kind} images qualify, {n} requested; "
            f"ask for fewer or use a larger data set"
        )
    strata = defaultdict(list)
    for candidate in sorted(candidates, key=lambda c: c.image.name):
        strata[candidate.top1].append(candidate)
    for members in strata.values():
        rng.shuffle(members)
    order = sorted(strata)
    rng.shuffle(order)
    picked = []
    while len(picked) < n:
        for top1 in order:
            if strata[top1] and len(picked) < n:
                picked.append(strata[top1].pop())
    return picked


def item_options(item: Classified, mode: str, pool: Sequence[str], rng: random.Random) -> list[str]:
    """The options of one item under distractor `mode`: "topk" fills up with the model's next most likely
    classes for the item's image, "subset" and "random" with random classes of `pool`."""
    if mode == "topk":
        return compose_options(item.top1, item.image.labels, item.ranked, rng, in_order=True)
    return compose_options(item.top1, item.image.labels, pool, rng)


def distractor_mode(request: BuildRequest, n_classes: int) -> str:
    """The mode a build fills options with: the requested one; for "auto", "subset" when classes are
    given, else "topk" for a model with more than TOPK_MIN_CLASSES classes and "random" otherwise."""
    if request.distractors != "auto":
        return request.distractors
    if request.distractor_classes:
        return "subset"
    return "topk" if n_classes > TOPK_MIN_CLASSES else "random"


def build_study(request: BuildRequest, progress: bool = True, report: Report = silent) -> Study:
    """Create the open study `request.slug` with its arms, intro pages, items and stimuli. `report` hears
    each batch of every stage (classifying, training the PV decoder, rendering each arm)."""
    _check_request(request)
    model = load_model(request.model).to(_device(request.device))
    unknown = [name for name in request.distractor_classes if name not in set(model.class_names)]
    if unknown:
        raise BuildError(f"distractor classes not among the model's {len(model.class_names)} classes: "
                         f"{', '.join(map(repr, unknown))}")
    mode = distractor_mode(request, len(model.class_names))
    dataset = load_dataset(request.dataset, known_labels=model.class_names)
    classified = classify(model, dataset, request.batch_size, progress, report)
    correct = [c for c in classified if c.correct is True]
    incorrect = [c for c in classified if c.correct is False]
    rng = random.Random(request.seed)
    chosen = sample(correct, request.n_correct, rng, "correctly classified") + sample(
        incorrect, request.n_incorrect, rng, "misclassified"
    )
    rng.shuffle(chosen)
    chosen_names = {c.image.name for c in chosen}
    spare = sorted((c for c in correct if c.image.name not in chosen_names), key=lambda c: c.image.name)
    checks = []
    if request.attention_checks:
        if len(spare) < request.attention_checks:
            raise BuildError(f"only {len(spare)} correctly classified images are left for "
                             f"{request.attention_checks} attention checks; ask for fewer")
        checks = rng.sample(spare, request.attention_checks)
        spare = [c for c in spare if c not in checks]
    example = rng.choice(spare) if spare else chosen[0]
    pool = list(request.distractor_classes) if mode == "subset" else [*dataset.classes, *model.class_names]
    options = [item_options(c, mode, pool, rng) for c in chosen]

    decoder_path = decoder_checks = None
    if "pv" in request.arms:
        decoder_path, decoder_checks = _gated_decoder(request, model, dataset, progress, report)
    displays = [display_image(open_image(c.image)) for c in [*chosen, example]]
    targets = [model.class_names.index(c.top1) for c in [*chosen, example]]
    renders = {
        technique: render(
            model,
            [open_image(c.image) for c in [*chosen, example]],
            displays,
            targets,
            technique,
            request,
            decoder_path,
            report,
        )
        for technique in tqdm(request.arms, desc="rendering stimuli", unit="arm", disable=not progress)
    }
    provenance = _provenance(
        request, model, dataset, decoder_path, decoder_checks, len(correct), len(incorrect), mode
    )
    check_pngs = [png_bytes(display_image(open_image(c.image))) for c in checks]
    check_options = [item_options(c, mode, pool, rng) for c in checks]
    with transaction.atomic():  # the study and its attention checks, or nothing
        study = _save(request, provenance, chosen, options, displays, renders, example)
        if checks:
            _add_attention_checks(study, request, checks, check_pngs, check_options)
    return study


def _add_attention_checks(
    study: Study, request: BuildRequest, checks: list[Classified], pngs: list[bytes], options: list[list[str]]
) -> None:
    """Insert the attention-check items at their positions (later questions move down), each showing its
    unmasked display image `pngs[i]` in every arm. Call inside the study's transaction."""
    order: list = list(study.items.order_by("position"))
    positions = attention_positions(request, len(order) + len(checks))
    for position, check in zip(positions, zip(checks, pngs, options)):
        order.insert(position, check)
    Item.objects.filter(study=study).update(position=DbF("position") + len(order))  # free the slots
    arms = list(study.arms.all())
    written: list[str] = []
    try:
        for position, entry in enumerate(order):
            if isinstance(entry, Item):
                Item.objects.filter(pk=entry.pk).update(position=position)
                continue
            check, png, item_options = entry
            item = Item(study=study, position=position, name=check.image.name, model_prediction=check.top1,
                        true_labels=list(check.image.labels), model_correct=True, is_attention_check=True,
                        expected_option=check.top1, options=item_options)
            item.image.name = _store("items", png, written)
            item.save()
            name = _store("stimuli", png, written)
            Stimulus.objects.bulk_create([
                Stimulus(item=item, arm=arm, image=name,
                         provenance={"method": "attention_check", "target": check.top1})
                for arm in arms
            ])
        study.consent_text = CONSENT_TEXT.format(n=len(order))  # the checks are questions too
        study.save(update_fields=["consent_text"])
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise


def render(
    model: LoadedModel,
    images: list[Image.Image],
    displays: list[Image.Image],
    targets: list[int],
    technique: str,
    request: BuildRequest,
    decoder_path: Path | None,
    report: Report = silent,
) -> list[bytes]:
    """One PNG stimulus per image: PV images for "pv", otherwise the image masked by the method's map on
    white (as in the PV paper's code), at the size of the display image."""
    params = dict(request.method_params.get(technique, {}))
    if technique == "pv":
        params["decoder"] = load_decoder(decoder_path, model)
    pngs = []
    stage = f"rendering the {explainers.label(technique)} stimuli"
    report(0, len(images), stage)
    for start in range(0, len(images), request.batch_size):
        batch = model.preprocess(images[start : start + request.batch_size])
        out = explainers.explain(
            model, batch, targets[start : start + request.batch_size], technique, **params
        )
        for i, result in enumerate(out.detach().float().cpu()):
            display = displays[start + i]
            size = (display.height, display.width)
            if technique == "pv":  # (3, S, S) in [0, 1]: the picture itself, enlarged for display
                picture = F.interpolate(result[None], size=size, mode="bicubic", align_corners=False)[0]
                pngs.append(to_png(picture))
            else:
                image = torch.from_numpy(np.asarray(display, dtype=np.float32) / 255).permute(2, 0, 1)[None]
                stimulus = RENDERINGS[request.rendering](image, resize_maps(result[None], size).clamp(0, 1))
                pngs.append(to_png(stimulus[0].clamp(0, 1)))
        report(len(pngs), len(images), stage)
    return pngs


def _gated_decoder(
    request: BuildRequest, model: LoadedModel, dataset: Dataset, progress: bool, report: Report
) -> tuple[Path, dict]:
    """The PV decoder's path, and the layer it inverts with its quality (for the provenance). Trained (and
    cached) when absent, judged on its held-out split; a given or cached decoder is judged on the data
    set's images. DecoderQualityError when it does not
    beat the mean image by the request's margins (a decoder trained now is then not kept)."""
    layer = request.decoder_layer or model.target_layer
    try:
        model.module.get_submodule(layer)
    except AttributeError:
        raise BuildError(f"the model has no layer {layer!r} for the PV decoder to invert") from None
    path = request.decoder or decoder_cache_path(model, layer)
    margins = (request.decoder_min_ssim_margin, request.decoder_min_psnr_margin)
    if not path.exists():
        report(0, 0, "training the PV decoder")  # its number of steps is known once training starts
        result = ensure_decoder(
            model, [open_image(i) for i in dataset.images], path, request.decoder_epochs, request.seed,
            request.device, progress, lambda done, total: report(done, total, "training the PV decoder"),
            layer=layer, margins=margins,
        )
        quality = result.quality
        source = f"held-out {result.n_val} of the {result.n_train + result.n_val} training images"
    else:
        decoder = load_decoder(path, model)
        if request.decoder_layer and decoder.layer != request.decoder_layer:
            raise BuildError(
                f"the PV decoder {path.name} inverts {decoder.layer!r}, not {request.decoder_layer!r}"
            )
        report(0, 1, "checking the PV decoder against the mean image")
        images = load_images([open_image(i) for i in dataset.images], model.input_size)
        quality = decoder_quality(decoder, model, images, batch_size=request.batch_size)
        report(1, 1, "checking the PV decoder against the mean image")
        check_quality(quality, *margins)
        layer, source = decoder.layer, "the data set's images (the mean image is theirs)"
    return path, {"layer": layer, "quality": quality.as_dict(), "measured_on": source,
                  "min_margins": {"ssim": margins[0], "psnr_db": margins[1]}}


def ensure_decoder(
    model: LoadedModel,
    images: list,
    path: Path,
    epochs: int,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    *,
    layer: str | None = None,
    margins: tuple[float, float] = (MIN_SSIM_MARGIN, MIN_PSNR_MARGIN_DB),
    **train_options,
) -> TrainResult | None:
    """Train the PV decoder of `model` inverting `layer` (default: its target layer) on `images` (PIL
    images or uint8 arrays) into `path`, unless it exists; it is written under a temporary name and
    renamed when training ends and it passed the quality gate (SSIM and PSNR `margins` over the mean
    image on the held-out split; DecoderQualityError otherwise), so an interrupted or failed run leaves
    no decoder at `path`. `train_options` go to `train_decoder`. Returns the training result, or None
    if cached."""
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        result = train_decoder(
            model, images, staging, epochs=epochs, seed=seed, device=device, progress=progress,
            on_batch=on_batch, layer=layer, **train_options,
        )
        check_quality(result.quality, *margins)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return result


def decoder_cache_path(model: LoadedModel, layer: str | None = None) -> Path:
    """Where the PV decoder trained for this model (weights) inverting `layer` (default: its target
    layer) is cached."""
    return (
        Path(settings.EXPLAINER_CACHE_DIR) / "decoders"
        / f"{model.weights_hash[:20]}-{layer or model.target_layer}.pt"
    )


def open_image(image: LabelledImage) -> Image.Image:
    """The data-set image as RGB; a clear DatasetError naming the file when it cannot be read or is larger
    than settings.IMAGE_MAX_PIXELS (checked on its header, before it is decoded)."""
    try:
        with Image.open(image.path) as opened:
            width, height = opened.size
            if width * height > settings.IMAGE_MAX_PIXELS:
                raise DatasetError(
                    f"{image.name}: the image is {width} x {height} pixels ({width * height / 1e6:.1f} "
                    f"megapixels), past the limit of {settings.IMAGE_MAX_PIXELS / 1e6:g} megapixels per "
                    "image; "
                    "resize it (the study shows images at 224 pixels)")
            return opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"{image.path}: cannot read the image: {error}") from error


def display_image(image: Image.Image) -> Image.Image:
    """The image scaled (bicubic) so that its longer side is DISPLAY_SIZE pixels."""
    scale = DISPLAY_SIZE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _check_request(request: BuildRequest) -> None:
    if not request.arms or len(set(request.arms)) != len(request.arms):
        raise BuildError(f"give one or more distinct arms, got {list(request.arms)}")
    unknown = [arm for arm in request.arms if arm not in explainers.METHODS]
    if unknown:
        raise BuildError(
            f"unknown arm technique(s) {unknown}; the explainer backend offers {list(explainers.METHODS)}"
        )
    if request.n_correct < 0 or request.n_incorrect < 0 or request.n_correct + request.n_incorrect == 0:
        raise BuildError("n_correct and n_incorrect must be >= 0, and at least one item is needed")
    if request.rendering not in RENDERINGS:
        raise BuildError(f"unknown rendering {request.rendering!r}; choose from {', '.join(RENDERINGS)}")
    n_questions = request.n_correct + request.n_incorrect + request.attention_checks
    positions = request.attention_positions
    if request.attention_checks < 0 or (positions and (
            len(positions) != request.attention_checks or len(set(positions)) != len(positions)
            or not all(1 <= p <= n_questions for p in positions))):
        raise BuildError(f"give {request.attention_checks} distinct attention-check positions between 1 and "
                         f"{n_questions} (or none to spread them evenly), got {list(positions)}")
    problem = distractors_problem(request.distractors, request.distractor_classes)
    if problem:
        raise BuildError(problem)
    try:
        check_confidence_rating(request.confidence_rating)
        parse_questionnaire(request.questionnaire)
    except QuestionnaireError as error:
        raise BuildError(str(error)) from error
    existing = Study.objects.filter(slug=request.slug).first()
    if existing and not request.replace:
        raise BuildError(f"study {request.slug!r} already exists; pass --replace to rebuild it")
    if existing and existing.participants.exists():
        raise BuildError(
            f"study {request.slug!r} has {existing.participants.count()} participant(s); "
            f"refusing to replace it (their answers would be lost)"
        )


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in {"cpu", "cuda"} or (name == "cuda" and not torch.cuda.is_available()):
        raise BuildError(f"device must be auto, cpu or cuda (with a CUDA GPU present), got {name!r}")
    return name


def _provenance(
    request: BuildRequest,
    model: LoadedModel,
    dataset: Dataset,
    decoder_path: Path | None,
    decoder_checks: dict | None,
    n_correct: int,
    n_incorrect: int,
    distractors: str,
) -> dict:
    return {
        "build_key": request.key(),
        "seed": request.seed,
        "model": {
            "spec": request.model if isinstance(request.model, dict) else str(request.model),
            "name": model.name,
            "weights_sha256": model.weights_hash,
            "multi_label": model.multi_label,
            "threshold": model.threshold,
            "input_size": model.input_size,
            "target_layer": model.target_layer,
        },
        "dataset": {
            "path": str(dataset.root),
            "layout": dataset.layout,
            "n_images": len(dataset.images),
            "classes": list(dataset.classes),
            "qualifying_correct": n_correct,
            "qualifying_incorrect": n_incorrect,
        },
        "methods": {arm: request.method_params.get(arm, {}) for arm in request.arms},
        "decoder": (
            {"path": str(decoder_path), "sha256": _file_hash(decoder_path), **decoder_checks}
            if decoder_path
            else None
        ),
        "rendering": {"display_size": DISPLAY_SIZE, "mask": "image * map + white * (1 - map)"}
        if request.rendering == "white_mask"
        else {"display_size": DISPLAY_SIZE, "overlay": "0.5 * image + 0.5 * jet(map)"},
        "attention_checks": {"n": request.attention_checks, "positions": list(request.attention_positions)},
        "distractors": {
            "mode": distractors,
            "requested": request.distractors,
            "classes": list(request.distractor_classes) if distractors == "subset" else None,
            "model_classes": len(model.class_names),
        },
        "versions": {
            "python": platform.python_version(),
            "django": django.get_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "numpy": np.__version__,
        },
    }


def _file_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _save(
    request: BuildRequest,
    provenance: dict,
    chosen: list[Classified],
    options: list[list[str]],
    displays: list[Image.Image],
    renders: dict[str, list[bytes]],
    example: Classified,
) -> Study:
    """Write the files (temporary names, then renamed) and the rows (one transaction); on any error
    remove the files this call created."""
    written: list[str] = []
    try:
        with transaction.atomic():
            _make_room(request)
            study = Study.objects.create(
                slug=request.slug,
                title=request.title or f"Study {request.slug}",
                consent_text=CONSENT_TEXT.format(n=len(chosen)),
                status=Study.Status.OPEN if request.open else Study.Status.DRAFT,
                provenance=provenance,
                owner_id=request.owner_id,
                confidence_rating=request.confidence_rating,
            )
            create_blocks(study, parse_questionnaire(request.questionnaire))
            arms = []
            for position, technique in enumerate(request.arms):
                arm = Arm(
                    study=study,
                    name=technique,
                    technique=technique,
                    position=position,
                    intro_html=intro_html(technique, example.top1, request.rendering),
                )
                example_png = example_pair(displays[-1], renders[technique][-1])
                arm.example_image.name = _store("arms", example_png, written)
                arm.save()
                arms.append(arm)
            for position, (c, item_options) in enumerate(zip(chosen, options)):
                item = Item(
                    study=study,
                    position=position,
                    name=c.image.name,
                    model_prediction=c.top1,
                    true_labels=list(c.image.labels),
                    model_correct=bool(c.correct),
                    options=item_options,
                )
                item.image.name = _store("items", png_bytes(displays[position]), written)
                item.save()
                Stimulus.objects.bulk_create(
                    [
                        Stimulus(
                            item=item,
                            arm=arm,
                            image=_store("stimuli", renders[arm.technique][position], written),
                            provenance={
                                "method": arm.technique,
                                "target": c.top1,
                                "params": provenance["methods"][arm.technique],
                            },
                        )
                        for arm in arms
                    ]
                )
            return study
    except BaseException as error:
        for name in written:
            default_storage.delete(name)
        if isinstance(error, IntegrityError) and Study.objects.filter(slug=request.slug).exists():
            raise BuildError(f"study {request.slug!r} was created by another build while this one saved; "
                             "nothing was written (choose another slug)") from None
        raise


def example_pair(display: Image.Image, stimulus: bytes) -> bytes:
    """An arm's worked example as a PNG: the input image (left) and its explanation (right, a stimulus PNG
    of the same size), EXAMPLE_GAP transparent pixels apart; RGBA, (2 W + EXAMPLE_GAP) x H."""
    with Image.open(io.BytesIO(stimulus)) as explanation:
        explanation = explanation.convert("RGB")
    if explanation.size != display.size:
        raise BuildError(f"the example's explanation is {explanation.size}, its image {display.size}")
    pair = Image.new("RGBA", (2 * display.width + EXAMPLE_GAP, display.height), (0, 0, 0, 0))
    pair.paste(display.convert("RGB"), (0, 0))
    pair.paste(explanation, (display.width + EXAMPLE_GAP, 0))
    return png_bytes(pair)


def _make_room(request: BuildRequest) -> None:
    """Inside the saving transaction: delete the study of the slug only when it is to be replaced and still
    has no participant; BuildError when another build created it meanwhile (that study is kept)."""
    existing = Study.objects.select_for_update().filter(slug=request.slug).first()
    if existing is None:
        return
    if not request.replace:
        raise BuildError(f"study {request.slug!r} was created by another build while this one ran; "
                         "nothing was written (choose another slug)")
    if existing.participants.exists():
        raise BuildError(f"study {request.slug!r} has participants now; refusing to replace it")
    existing.delete()


def _store(folder: str, data: bytes, written: list[str]) -> str:
    """Save `data` under a content-addressed media name (temporary file, then rename); returns the name.
    Names of files this call created are appended to `written`."""
    name = f"{folder}/{hashlib.sha256(data).hexdigest()[:32]}.png"
    path = Path(default_storage.path(name))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, path)
        written.append(name)
    return name


def intro_html(technique: str, example_prediction: str, rendering: str = "white_mask") -> str:
    """The arm's introduction: what the technique shows (its name and plain words, no method key), how the
    map is drawn, and how to read the worked example below it."""
    title, text = TECHNIQUES[technique]
    note = "" if technique == "pv" else f" {RENDERING_NOTES[rendering]}"
    return (
        f"<h2>{escape(title)}</h2><p>{escape(text)}{escape(note)}</p>"
        f"<p>In each question you will see an image and such an explanation of the model's decision on it, "
        f"and guess which class the model predicted. In the example below (the image on the left, its "
        f"explanation on the right), the model predicted <strong>{escape(example_prediction)}</strong>.</p>"
    )
