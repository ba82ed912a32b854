"""Colin et al. (NeurIPS 2022), "What I Cannot Predict, I Do Not Understand": rounds of a training block
(the image, the model's decision and the arm's explanation; the decision alone in a control arm) and a test
block (the image alone; the participant predicts the model's decision among the simulation design's options).
Items carry {"round": r (1-based), "phase": "train" | "test"}; only training items have stimuli. A training
answer is SEEN with no verdict; with `feedback`, the page after a test answer says whether it was right."""
from __future__ import annotations

import math
import random
from collections.abc import Mapping
from pathlib import Path

from analysis.learn_predict_report import write_learn_predict_report
from study.models import Item, Study
from study.survey.designs.base import Answer, Design
from study.survey.designs.simulation import shuffled_options
from study.survey.errors import BadInput

SEEN = "(seen)"  # Trial.chosen_option of a training trial: the page was seen, nothing asked
TRAIN, TEST = "train", "test"
DEFAULTS = {"rounds": 3, "train_per_round": 4, "test_per_round": 4, "error_share": 0.25, "feedback": False}
LIMITS = {"rounds": (1, 10), "train_per_round": (1, 50), "test_per_round": (1, 50)}


def block_errors(share: float, size: int) -> int:
    """The model errors in a block of `size` items: share * size rounded half up."""
    return math.floor(share * size + 0.5)


class LearnPredict(Design):
    name = Study.Design.LEARN_PREDICT
    allows_attention_checks = False  # a check would break a block's error share; the build refuses them
    export_columns = ("round", "phase")

    def check_options(self, options: Mapping) -> dict:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown learn_predict option(s) {sorted(unknown)}; the design takes: "
                             f"{', '.join(DEFAULTS)}")
        checked = DEFAULTS | dict(options)
        for name, (low, high) in LIMITS.items():
            if type(checked[name]) is not int or not low <= checked[name] <= high:
                raise ValueError(f"{name} is a whole number from {low} to {high}, got {checked[name]!r}")
        share = checked["error_share"]
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise ValueError(f"error_share is a number from 0 to 1, got {share!r}")
        if not isinstance(checked["feedback"], bool):
            raise ValueError(f"feedback is true or false, got {checked['feedback']!r}")
        return checked | {"error_share": float(share)}

    def describe(self, options: Mapping) -> str:
        feedback = "feedback after each prediction" if options["feedback"] else "no feedback"
        return (f"{options['rounds']} rounds of {options['train_per_round']} training and "
                f"{options['test_per_round']} test images; {options['error_share']:.0%} model errors per "
                f"block; {feedback}")

    def blocks(self, options: Mapping) -> list[tuple[dict, int, int]]:
        """Per round a training block, then a test block, each with share * size errors (rounded)."""
        blocks = []
        for round_ in range(1, options["rounds"] + 1):
            for phase, size in ((TRAIN, options["train_per_round"]), (TEST, options["test_per_round"])):
                wrong = block_errors(options["error_share"], size)
                blocks.append(({"round": round_, "phase": phase}, size - wrong, wrong))
        return blocks

    def order(self, study: Study, items: list[Item], seed: int) -> list[Item]:
        """Block after block (round 1 training, round 1 test, round 2 training, ...), each block's items
        shuffled from the participant's `seed`, whatever the study's question order."""
        ordered = []
        for key in sorted({block_key(item) for item in items}):
            block = [item for item in items if block_key(item) == key]
            random.Random(f"{seed}:block:{key[0]}:{key[1]}").shuffle(block)
            ordered += block
        return ordered

    def page_context(self, trial) -> dict:
        """The round and phase, and with feedback the verdict on the test answer just before this page."""
        details = trial.item.details
        context = {"round": details.get("round"), "rounds": trial.participant.study.design_options["rounds"],
                   "training": details.get("phase") == TRAIN, "seen": SEEN}
        if trial.participant.study.design_options["feedback"] and trial.presented_position:
            previous = (trial.participant.trials.select_related("item")
                        .filter(presented_position=trial.presented_position - 1).first())
            if previous and previous.correct_guess is not None and previous.item.details.get("phase") == TEST:
                context["feedback"] = {"right": previous.correct_guess,
                                       "decision": previous.item.model_prediction}
        return context

    def presented_options(self, study: Study, item: Item, seed: int) -> list[str]:
        """A test item's options as simulation presents them; none for a training item."""
        return shuffled_options(seed, item) if item.details.get("phase") == TEST else []

    def explained_classes(self, prediction: str, options: list[str],
                          details: Mapping | None = None) -> list[str]:
        """The prediction for a training item (and the worked example); nothing for a test item."""
        return [] if (details or {}).get("phase") == TEST else [prediction]

    def score(self, study: Study, item: Item, presented: list[str], data: Mapping) -> Answer:
        details = {"round": item.details.get("round"), "phase": item.details.get("phase")}
        option = data.get("option", "")
        if details["phase"] != TEST:
            if option != SEEN:  # the training page's Next sends it
                raise BadInput("Please use the Next button.")
            return Answer(SEEN, None, details)
        if option not in presented:
            raise BadInput("Please choose one of the options shown.")
        return Answer(option, option == item.answer, details)

    def write_analysis(self, study, trials, participants, questionnaire, folder: Path, method: str,
                       notes: list[str]) -> list[Path]:
        return write_learn_predict_report(trials, participants, folder, method=method, notes=notes)


def block_key(item: Item) -> tuple[int, int]:
    """(round, 0 for training / 1 for test): the block's place in the order."""
    return item.details.get("round", 0), int(item.details.get("phase") == TEST)
