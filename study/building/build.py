"""Build a simulatability study from a classifier and a labelled image set.

`build_study` classifies every image, keeps the items the PV paper's rules allow, samples the
requested numbers reproducibly, composes one option set per item, renders one stimulus per item
and explained arm through `explainers` (a control arm, CONTROL, shows the image alone), and creates
the study in one transaction. Nothing is written to the database, and no file is left behind, when
any step fails.
"""

import random

import torch
from django.db import transaction
from tqdm import tqdm

import explainers
from explainers import load_model
from study.building.datasets import load_dataset
from study.building.decoder import gated_decoder
from study.building.options import distractors_problem
from study.building.rendering import RENDERINGS, display_image, open_image, png_bytes, render
from study.building.request import BuildError, BuildRequest
from study.building.saving import add_attention_checks, build_provenance, save_study
from study.building.selection import classify, distractor_mode, item_options, lay_out_blocks, sample
from study.models import Study
from study.models.study import CONTROL
from study.progress import Report, silent
from study.survey.designs import DESIGNS
from study.survey.questionnaire import QuestionnaireError, check_confidence_rating, parse_questionnaire

ATTENTION = DESIGNS[Study.Design.ATTENTION]  # the design of an attention block's pages


def build_study(request: BuildRequest, progress: bool = True, report: Report = silent) -> Study:
    """Create the open study `request.slug` with its arms, intro pages, items and stimuli. `report` hears
    each batch of every stage (classifying, training the PV decoder, rendering each arm)."""
    design_options, block_options = _check_request(request)
    design = DESIGNS[request.design]
    model = load_model(request.model).to(_device(request.device))
    if len(model.class_names) < design_options.get("k", 0):
        raise BuildError(f"the model has {len(model.class_names)} classes, fewer than the {design_options['k']} "
                         "panels asked for")
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
    blocks = design.blocks(design_options)
    n_correct, n_incorrect = ((sum(b[1] for b in blocks), sum(b[2] for b in blocks)) if blocks
                              else (request.n_correct, request.n_incorrect))
    chosen = sample(correct, n_correct, rng, "correctly classified") + sample(
        incorrect, n_incorrect, rng, "misclassified"
    )
    if blocks:
        chosen, details = lay_out_blocks(blocks, chosen[:n_correct], chosen[n_correct:], rng)
    else:
        rng.shuffle(chosen)
        details = [{} for _ in chosen]
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
    options = [design.item_options(design_options, c.ranked, item_options(c, mode, pool, rng)) for c in chosen]

    decoder_path = decoder_checks = None
    if "pv" in request.arms:
        decoder_path, decoder_checks = gated_decoder(request, model, dataset, progress, report)
    shown = [*chosen, example]
    images = [open_image(c.image) for c in shown]
    displays = [display_image(image) for image in images]
    # Every explained class of every image (of the example too, with the options the design gives it), as
    # (image index, class) pairs, so that one batched call explains several classes of an image.
    example_options = design.item_options(design_options, example.ranked, [example.top1])
    explained = [design.explained_classes(c.top1, o, d)
                 for c, o, d in zip(shown, [*options, example_options], [*details, {}])]
    pairs = [(i, name) for i, names in enumerate(explained) for name in names]
    renders = {}  # technique -> per image of `shown`, class -> stimulus PNG
    for technique in tqdm([arm for arm in request.arms if arm != CONTROL], desc="rendering stimuli",
                          unit="arm", disable=not progress):
        pngs = render(model, [images[i] for i, _ in pairs], [displays[i] for i, _ in pairs],
                      [model.class_names.index(name) for _, name in pairs], technique, request, decoder_path,
                      report)
        renders[technique] = [{} for _ in explained]
        for (i, name), png in zip(pairs, pngs):
            renders[technique][i][name] = png
    if CONTROL in request.arms and design.control_targets:  # attention: the blurred images
        renders[CONTROL] = [design.control_stimuli(design_options, image, display)
                            for image, display in zip(images, displays)]
    details = [d | design.item_details(image, display) for d, image, display in zip(details, images, displays)]
    if block_options:  # every arm shows each item's blurred image (not the example's) before the questions
        details = [d | ATTENTION.item_details(image, display)
                   for d, image, display in zip(details, images, displays)]
        for technique in request.arms:
            per_image = renders.setdefault(technique, [{} for _ in shown])
            for stimuli, image, display in zip(per_image[:-1], images, displays):
                stimuli |= ATTENTION.control_stimuli(block_options, image, display)
    provenance = build_provenance(
        request, model, dataset, decoder_path, decoder_checks, len(correct), len(incorrect), mode
    ) | {"design": {"name": request.design, "options": design_options}}
    if block_options:
        provenance["design"]["attention_block"] = block_options
    check_pngs = [png_bytes(display_image(open_image(c.image))) for c in checks]
    check_options = [design.item_options(design_options, c.ranked, item_options(c, mode, pool, rng))
                     for c in checks]
    with transaction.atomic():  # the study and its attention checks, or nothing
        study = save_study(request, design_options, block_options, provenance, chosen, options, details,
                           displays, renders, example)
        if checks:
            add_attention_checks(study, request, checks, check_pngs, check_options)
    return study


def _check_request(request: BuildRequest) -> tuple[dict, dict]:
    """BuildError for a request that cannot be built; returns the design's options and the attention block's
    ({} without one) as checked."""
    if request.design not in DESIGNS:
        raise BuildError(f"unknown design {request.design!r}; choose from {', '.join(DESIGNS)}")
    design = DESIGNS[request.design]
    try:
        design_options = design.check_options(request.design_options)
    except ValueError as error:
        raise BuildError(f"{request.design} design: {error}") from None
    block_options = {}
    if request.attention_block is not None:
        if design is ATTENTION:
            raise BuildError("the attention design is a study of clicks already: it takes no attention block")
        try:
            block_options = ATTENTION.check_options(request.attention_block)
        except ValueError as error:
            raise BuildError(f"attention block: {error}") from None
    if CONTROL in request.arms and not design.allows_control:
        raise BuildError(f"the {request.design} design has no control arm ({CONTROL!r}): its panels are the "
                         "explanations")
    if not design.allows_explanations and set(request.arms) != {CONTROL}:
        raise BuildError(f"the {request.design} design shows no explanations: give the control arm "
                         f"({CONTROL!r}) alone, not {list(request.arms)}")
    if request.attention_checks and not design.asks_question:
        raise BuildError(f"the {request.design} design asks no question, so it has no attention checks")
    if not request.arms or len(set(request.arms)) != len(request.arms):
        raise BuildError(f"give one or more distinct arms, got {list(request.arms)}")
    unknown = [arm for arm in request.arms if arm not in (*explainers.METHODS, CONTROL)]
    if unknown:
        raise BuildError(
            f"unknown arm technique(s) {unknown}; the explainer backend offers {list(explainers.METHODS)}, "
            f"and {CONTROL!r} is the control arm (no explanation)"
        )
    if request.attention_checks and not design.allows_attention_checks:
        raise BuildError(f"the {request.design} design takes no attention checks")
    if design.blocks(design_options) is None and (
            request.n_correct < 0 or request.n_incorrect < 0 or request.n_correct + request.n_incorrect == 0):
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
    return design_options, block_options


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in {"cpu", "cuda"} or (name == "cuda" and not torch.cuda.is_available()):
        raise BuildError(f"device must be auto, cpu or cuda (with a CUDA GPU present), got {name!r}")
    return name
