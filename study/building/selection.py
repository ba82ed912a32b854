"""Which images a study shows: the model's verdict on each image under the PV paper's rules, the
reproducible sample of correct and incorrect items, each item's options and the attention checks'
positions."""

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm import tqdm

from explainers import LoadedModel, predict
from study.building.datasets import Dataset, LabelledImage
from study.building.options import N_RANKED, TOPK_MIN_CLASSES, compose_options
from study.building.rendering import open_image
from study.building.request import BuildError, BuildRequest
from study.progress import Report, silent


@dataclass(frozen=True)
class Classified:
    """One image with the model's verdict under the paper's rules."""

    image: LabelledImage
    top1: str
    predicted: tuple[str, ...]  # the predicted label set (multi-label), or (top1,)
    correct: bool | None  # True: correct, False: incorrect, None: neither (partly right)
    ranked: tuple[str, ...] = ()  # the model's N_RANKED most likely classes, most likely first


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


def lay_out_blocks(blocks: Sequence[tuple[dict, int, int]], correct: list[Classified],
                   incorrect: list[Classified], rng: random.Random) -> tuple[list[Classified], list[dict]]:
    """The sampled `correct` and `incorrect` images dealt into a design's `blocks` ((details, n right,
    n wrong), in order; study.survey.designs.Design.blocks), each block shuffled; returns the items in
    block order and each one's details. The samples hold exactly the blocks' numbers (no image twice)."""
    items, details = [], []
    for block, n_right, n_wrong in blocks:
        dealt = correct[:n_right] + incorrect[:n_wrong]
        correct, incorrect = correct[n_right:], incorrect[n_wrong:]
        rng.shuffle(dealt)
        items += dealt
        details += [dict(block) for _ in dealt]
    return items, details


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


def attention_positions(request: BuildRequest, n_questions: int) -> list[int]:
    """The 0-based positions of the attention checks among `n_questions` questions (checks included):
    the requested 1-based positions, or spread evenly (never first or last when there is room)."""
    if request.attention_positions:
        return sorted(p - 1 for p in request.attention_positions)
    k = request.attention_checks
    return [round((i + 1) * n_questions / (k + 1)) - (1 if k else 0) for i in range(k)] if k else []
