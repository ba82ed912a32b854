"""The PV paper's forward simulation: the image and its explanation; the participant guesses the model's
prediction among options shuffled per participant ("I just can't tell" last)."""
from __future__ import annotations

from pathlib import Path


from analysis.reports import write_simulatability_report
from study.models import Item, Study
from study.models.study import CANT_TELL
from study.survey.designs.base import Design, shuffled


def shuffled_options(seed: int, item: Item) -> list[str]:
    """The item's options in a per-participant, per-question order; "I just can't tell" stays last."""
    options = shuffled([option for option in item.options if option != CANT_TELL], seed, item)
    return options + [CANT_TELL] if CANT_TELL in item.options else options


class Simulation(Design):
    name = Study.Design.SIMULATION

    def presented_options(self, study: Study, item: Item, seed: int) -> list[str]:
        return shuffled_options(seed, item)

    def write_analysis(self, study, trials, participants, questionnaire, folder: Path, method: str,
                       notes: list[str]) -> list[Path]:
        return write_simulatability_report(trials, participants, folder, method=method,
                                           questionnaire=questionnaire, notes=notes)
