"""HIVE's agreement task: the image, the model's prediction and its explanation (the prediction alone in a
control arm); the participant rates the prediction on a scale from "fairly confident it is correct" to
"fairly confident it is incorrect". Item.options hold the scale, in that order, in every arm."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from analysis.hive_report import write_agreement_report
from study.models import Item, Study
from study.survey.designs.base import Answer, Design
from study.survey.errors import BadInput

# HIVE's four points, from most confident the prediction is correct to most confident it is not.
HIVE_SCALE = (
    "Fairly confident that the prediction is correct",
    "Somewhat confident that the prediction is correct",
    "Somewhat confident that the prediction is incorrect",
    "Fairly confident that the prediction is incorrect",
)
MAX_POINTS = 10


def check_scale(scale) -> list[str]:
    """The scale as stored: an even number (2..MAX_POINTS) of distinct, non-empty labels; ValueError
    otherwise. Its first half says "correct", the second half "incorrect"."""
    if not isinstance(scale, list | tuple) or not all(isinstance(label, str) for label in scale):
        raise ValueError("the agreement scale is a list of labels")
    labels = [label.strip() for label in scale]
    if (len(labels) % 2 or not 2 <= len(labels) <= MAX_POINTS or not all(labels)
            or len(set(labels)) != len(labels)):
        raise ValueError(f"the agreement scale needs an even number (2 to {MAX_POINTS}) of distinct labels, "
                         f"most confident the prediction is correct first; got {len(labels)}")
    if any(len(label) > 200 for label in labels):
        raise ValueError("an agreement scale label is longer than 200 characters")
    return labels


class Agreement(Design):
    name = Study.Design.AGREEMENT
    export_columns = ("agreement", "judged_correct")

    def check_options(self, options: Mapping) -> dict:
        unknown = set(options) - {"scale"}
        if unknown:
            raise ValueError(f"unknown agreement option(s) {sorted(unknown)}; the design takes: scale")
        return {"scale": check_scale(options.get("scale", HIVE_SCALE))}

    def describe(self, options: Mapping) -> str:
        return f"{len(options['scale'])}-point scale: " + " / ".join(options["scale"])

    def item_options(self, options: Mapping, ranked: list[str], composed: list[str]) -> list[str]:
        """The scale, in every item."""
        return list(options["scale"])

    def score(self, study: Study, item: Item, presented: list[str], data: Mapping) -> Answer:
        """The point is 1..P with P (the first label) the most confident that the prediction is correct;
        the answer is right when the participant's judgement (top half: correct) matches the model's."""
        option = data.get("option", "")
        if option not in presented:
            raise BadInput("Please choose one of the options shown.")
        points = len(presented)
        point = points - presented.index(option)
        judged_correct = point > points / 2
        return Answer(option, judged_correct == item.model_correct,
                      {"agreement": point, "judged_correct": judged_correct})

    def write_analysis(self, study, trials, participants, questionnaire, folder: Path, method: str,
                       notes: list[str]) -> list[Path]:
        return write_agreement_report(trials, participants, folder, notes=notes, method=method,
                                      points=len(study.design_options["scale"]))
