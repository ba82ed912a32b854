"""HIVE's distinction task: for one image, the explanations of the model's top-k classes side by side as
panels numbered 1..k (in an order shuffled per participant and stored as the trial's presented options),
with the class names or without; the participant picks the panel of the class the model predicts (chance
1/k) and, when asked, the panel of the class they think is correct. No control arm: the panels are the
explanations."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from analysis.hive_report import write_distinction_report
from study.models import Item, Study
from study.survey.designs.base import Answer, Design, confidence_of, shuffled
from study.survey.errors import BadInput

DEFAULTS = {"k": 4, "show_labels": False, "ask_correct_class": False}
MIN_K, MAX_K = 2, 6


class Distinction(Design):
    name = Study.Design.DISTINCTION
    allows_control = False
    panelled = True
    export_columns = ("k", "chosen_panel", "correct_class", "correct_class_right", "correct_class_confidence")

    def check_options(self, options: Mapping) -> dict:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown distinction option(s) {sorted(unknown)}; the design takes: "
                             f"{', '.join(DEFAULTS)}")
        checked = DEFAULTS | dict(options)
        if type(checked["k"]) is not int or not MIN_K <= checked["k"] <= MAX_K:
            raise ValueError(f"k, the panels per image, is a whole number from {MIN_K} to {MAX_K}, "
                             f"got {checked['k']!r}")
        for flag in ("show_labels", "ask_correct_class"):
            if not isinstance(checked[flag], bool):
                raise ValueError(f"{flag} is true or false, got {checked[flag]!r}")
        if checked["ask_correct_class"] and not checked["show_labels"]:
            raise ValueError("asking which class is correct needs the class names shown (show_labels)")
        return checked

    def describe(self, options: Mapping) -> str:
        labels = "class names shown" if options["show_labels"] else "no class names"
        second = "; also asks which class is correct" if options["ask_correct_class"] else ""
        return f"{options['k']} panels, {labels}{second}"

    def presented_options(self, study: Study, item: Item, seed: int) -> list[str]:
        return shuffled(item.options, seed, item)

    def item_options(self, options: Mapping, ranked: list[str], composed: list[str]) -> list[str]:
        """The model's top-k classes, most likely first."""
        return list(ranked[:options["k"]])

    def explained_classes(self, prediction: str, options: list[str],
                          details: Mapping | None = None) -> list[str]:
        return list(options)

    def score(self, study: Study, item: Item, presented: list[str], data: Mapping) -> Answer:
        """`option` and `correct_class` are panel numbers 1..k (so that hidden labels stay hidden)."""
        chosen = panel_class(presented, data.get("option"), "Please choose one of the panels.")
        details = {"k": len(presented), "chosen_panel": presented.index(chosen) + 1}
        if study.design_options.get("ask_correct_class"):
            correct = panel_class(presented, data.get("correct_class"),
                                  "Please choose the class you think is correct.")
            truth = set(item.true_labels) & set(presented)
            details |= {"correct_class": correct, "correct_class_right": correct in truth if truth else None,
                        "correct_class_confidence": confidence_of(study, data, "correct_class_confidence")}
        return Answer(chosen, chosen == item.answer, details)

    def write_analysis(self, study, trials, participants, questionnaire, folder: Path, method: str,
                       notes: list[str]) -> list[Path]:
        return write_distinction_report(trials, participants, folder, method=method, notes=notes)


def panel_class(presented: list[str], number, message: str) -> str:
    """The class of panel `number` (1-based, as sent by the page); BadInput with `message` otherwise."""
    try:
        index = int(number)
    except (TypeError, ValueError):
        index = 0
    if not 1 <= index <= len(presented):
        raise BadInput(message)
    return presented[index - 1]
