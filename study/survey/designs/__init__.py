"""Study designs: what a trial shows and asks, how an answer is scored, exported and analysed
(study.survey.designs.base.Design). DESIGNS maps Study.design to its design."""
from study.models import Study, Trial
from study.survey.designs.agreement import Agreement
from study.survey.designs.attention import Attention
from study.survey.designs.base import Answer, Design
from study.survey.designs.distinction import Distinction
from study.survey.designs.learn_predict import LearnPredict
from study.survey.designs.simulation import Simulation

DESIGNS: dict[str, Design] = {design.name: design for design in (Simulation(), Agreement(), Distinction(),
                                                                Attention(), LearnPredict())}


def design_of(study: Study) -> Design:
    """The design of `study`."""
    return DESIGNS[study.design]


def design_of_trial(study: Study, trial: Trial) -> Design:
    """The design that shows and scores `trial` of `study`: attention for its attention block, else the
    study's."""
    return DESIGNS[Study.Design.ATTENTION] if trial.block == Trial.Block.ATTENTION else design_of(study)


__all__ = ["Answer", "DESIGNS", "Design", "design_of", "design_of_trial"]
