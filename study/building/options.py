"""The option sets of a study's questions: the model's prediction, the image's other true labels, then
distractor classes, and "I just can't tell". Pure Python (no torch), so that the builder's form and the
analysis can name the distractor modes.
"""

import random
from collections.abc import Sequence

from study.models.study import CANT_TELL

N_OTHER_OPTIONS = 3  # besides the prediction and CANT_TELL: five options per item
# The classes ranked by the model kept per image: enough for the prediction, three other true labels and
# three of the model's next most likely classes.
N_RANKED = 1 + 2 * N_OTHER_OPTIONS
# How the options are filled up after the prediction and the other true labels ("auto": "topk" for models
# with more than TOPK_MIN_CLASSES classes, "random" otherwise; "subset" when classes are given).
DISTRACTORS = {
    "topk": "the model's next most likely classes for the item's image",
    "subset": "random classes from the researcher's class subset",
    "random": "random classes of the model",
}
TOPK_MIN_CLASSES = 50


def compose_options(
    top1: str, truth: Sequence[str], pool: Sequence[str], rng: random.Random, in_order: bool = False
) -> list[str]:
    """The paper's five options: the top-1 prediction, up to three other true labels (a random three
    if more), filled up with classes from `pool` (in its order of preference): random ones, or its first
    ones when `in_order` (a ranking), and CANT_TELL."""
    others = sorted(set(truth) - {top1})
    if len(others) > N_OTHER_OPTIONS:
        others = sorted(rng.sample(others, N_OTHER_OPTIONS))
    fillers = [c for c in dict.fromkeys(pool) if c != top1 and c not in others]
    needed = N_OTHER_OPTIONS - len(others)
    chosen = fillers[:needed] if in_order else rng.sample(fillers, min(needed, len(fillers)))
    return [top1, *others, *chosen, CANT_TELL]


def distractors_problem(mode: str, classes: Sequence[str]) -> str | None:
    """What is wrong with a distractor mode and class subset (before the model is known), or None."""
    if mode not in ("auto", *DISTRACTORS):
        return f"unknown distractors {mode!r}; choose from auto, {', '.join(DISTRACTORS)}"
    if mode == "subset" and not classes:
        return "distractors 'subset' needs a class subset: a text file of class names, one per line"
    if classes and mode not in ("auto", "subset"):
        return f"a class subset is used only with distractors 'subset', not {mode!r}"
    if classes and len(set(classes)) <= N_OTHER_OPTIONS:
        return f"give at least {N_OTHER_OPTIONS + 1} distinct distractor classes, got {len(set(classes))}"
    return None


def parse_class_list(text: str) -> tuple[str, ...]:
    """Class names from a text file, one per line: stripped, blank lines skipped, duplicates dropped."""
    return tuple(dict.fromkeys(line.strip() for line in text.lstrip("\ufeff").splitlines() if line.strip()))


def describe_distractors(provenance: dict) -> str:
    """One sentence saying how a study's options were filled up, from its provenance."""
    recorded = provenance.get("distractors")
    if not recorded:
        return "Distractor options: not recorded (studies built before the record used random classes)."
    mode = recorded["mode"]
    subset = f" ({len(recorded['classes'])} classes)" if mode == "subset" else ""
    how = (f"the default for a model with {recorded['model_classes']} classes"
           if recorded["requested"] == "auto" and mode != "subset" else "chosen by the researcher")
    return f"Distractor options: {mode}, {DISTRACTORS[mode]}{subset}; {how}."
