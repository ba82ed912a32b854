"""Study designs: what a trial shows and asks, how an answer is scored, exported and analysed
(study.survey.designs.base.Design). DESIGNS maps Study.design to its design."""
from study.models import Study
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


__all__ = ["Answer", "DESIGNS", "Design", "design_of"]
