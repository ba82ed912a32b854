"""What a study design decides, in one place per design: the options a trial presents, what the
participant's answer is and how it is checked and scored, its export columns and its analysis. The survey
engine (study.survey.flow and enrolment) does the rest the same way for every design: assignment, exactly-
once answers, resume, preview, questionnaires, withdrawal, attention checks."""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study.models import Item, Study
from study.survey.errors import BadInput


@dataclass(frozen=True)
class Answer:
    """A checked answer: the option text stored as Trial.chosen_option, whether it counts as right
    (Trial.correct_guess; None for a trial that asks no question) and the design's part (Trial.details)."""

    chosen_option: str
    correct_guess: bool | None
    details: dict


class Design:
    """The simulation design's behaviour; the other designs override what differs."""

    name = ""
    allows_control = True
    allows_explanations = True  # False: only a control arm (attention: the blurred image, no explanation)
    asks_question = True  # False: no question, so no attention checks (attention: clicks only)
    panelled = False  # one explanation per presented option, shown as numbered panels (flow.Page.panels)
    allows_attention_checks = True
    # Trial.details keys exported as columns after the common ones (study.research.export), in order.
    export_columns: tuple[str, ...] = ()
    # The stimuli (targets) every item has in a control arm, made by control_stimuli (attention: its blurred
    # image); none in the other designs: a control arm shows the item's image alone.
    control_targets: tuple[str, ...] = ()

    @property
    def figures_template(self) -> str:
        """The trial page's pictures (included by survey/question.html)."""
        return f"survey/designs/{self.name}/figures.html"

    @property
    def fields_template(self) -> str:
        """The trial page's answer fields (included in its form)."""
        return f"survey/designs/{self.name}/fields.html"

    def check_options(self, options: Mapping) -> dict:
        """The design options as stored (defaults filled in); ValueError naming a bad one."""
        if options:
            raise ValueError(f"the {self.name} design takes no options, got {sorted(options)}")
        return {}

    def describe(self, options: Mapping) -> str:
        """The design `options` in words, for the study page ("" without options)."""
        return ""

    def blocks(self, options: Mapping) -> list[tuple[dict, int, int]] | None:
        """The design's blocks of items under its `options`, each as (Item.details, number the model got
        right, number it got wrong), in order; None: the build's n_correct and n_incorrect, shuffled."""
        return None

    def order(self, study: Study, items: list[Item], seed: int) -> list[Item]:
        """The items in the order this participant meets them: by position, or shuffled from their `seed`
        under a shuffled question order."""
        ordered = list(items)
        if study.question_order == Study.QuestionOrder.SHUFFLED:
            random.Random(f"{seed}:order").shuffle(ordered)
        return ordered

    def page_context(self, trial) -> dict:
        """What the design's templates need beyond the page (e.g. the last answer's feedback)."""
        return {}

    def presented_options(self, study: Study, item: Item, seed: int) -> list[str]:
        """The item's options in the order this participant sees them (drawn from their `seed`)."""
        return list(item.options)

    def item_options(self, options: Mapping, ranked: list[str], composed: list[str]) -> list[str]:
        """An item's options (Item.options) under the design `options`: the build's `composed` ones (the
        prediction, the other true labels, distractors and "I just can't tell") or the model's `ranked`
        classes, most likely first."""
        return composed

    def explained_classes(self, prediction: str, options: list[str],
                          details: Mapping | None = None) -> list[str]:
        """The classes an explained arm shows a stimulus of, for an item with this `prediction`, `options`
        and `details` (Item.details): what the build renders, enrolment checks and a trial page shows."""
        return [prediction]

    def stimulus_targets(self, is_control: bool, item: Item) -> list[str]:
        """The targets of the stimuli a trial of `item` shows in a control arm (`is_control`) or an explained
        one, the one shown alone first ([]: the item's image alone)."""
        if is_control:
            return list(self.control_targets)
        return self.explained_classes(item.model_prediction, item.options, item.details)

    def control_stimuli(self, options: Mapping, image, display) -> dict[str, bytes]:
        """A control arm's stimuli of one item, target -> PNG (keys: control_targets), from the source
        `image` and the item's `display` image (PIL images)."""
        return {}

    def item_details(self, image, display) -> dict:
        """Item.details of an item built from the source `image` and shown as `display` (PIL images)."""
        return {}

    def score(self, study: Study, item: Item, presented: list[str], data: Mapping) -> Answer:
        """Check the answer fields `data` (the page's POST) against the options `presented`; BadInput when
        one is missing or not offered."""
        option = data.get("option", "")
        if option not in presented:
            raise BadInput("Please choose one of the options shown.")
        return Answer(option, option == item.answer, {})

    def export_values(self, details: Mapping) -> tuple:
        """The export_columns' values of one trial's details (None where absent)."""
        return tuple(details.get(column) for column in self.export_columns)

    def write_analysis(self, study: Study, trials: pd.DataFrame, participants: pd.DataFrame,
                       questionnaire: pd.DataFrame, folder: Path, method: str, notes: list[str]) -> list[Path]:
        raise NotImplementedError


def shuffled(values: list[str], seed: int, item: Item) -> list[str]:
    """`values` in a per-participant (`seed`), per-item order."""
    values = list(values)
    random.Random(f"{seed}:{item.pk}").shuffle(values)
    return values


def confidence_of(study: Study, data: Mapping, field: str) -> int | None:
    """The confidence rating `field` of `data` (1..study.confidence_rating), None when the study asks for
    none; BadInput when it is missing or out of range."""
    levels = study.confidence_rating
    value = data.get(field)
    if not levels:
        if value not in (None, ""):
            raise BadInput("This study asks for no confidence rating.")
        return None
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= levels:
        raise BadInput(f"Please say how confident you are, from 1 to {levels}.")
    return value
