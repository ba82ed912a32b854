"""The study app's tables: studies and their arms and items, participants and trials."""
from study.models.study import Arm, Item, Stimulus, Study
from study.models.job import Job
from study.models.gaze import GazeDataset, GazeFixations, GazeMap, GazeStimulus
from study.models.participant import Participant, RecruitmentRecord, Trial
from study.models.questionnaire import QuestionnaireAnswer, QuestionnaireBlock, QuestionnaireQuestion
from study.models.access import Access, GazeDatasetShare, StudyShare

__all__ = ["Access", "Arm", "GazeDataset", "GazeDatasetShare", "GazeFixations", "GazeMap", "GazeStimulus",
           "Item", "Job", "Participant", "QuestionnaireAnswer", "QuestionnaireBlock",
           "QuestionnaireQuestion", "RecruitmentRecord", "Stimulus", "Study", "StudyShare", "Trial"]
