"""The study app's tables: studies and their arms and items, participants and trials."""
from study.models.study import Arm, Item, Stimulus, Study
from study.models.job import Job
from study.models.gaze import GazeDataset, GazeFixations, GazeMap, GazeStimulus
from study.models.participant import Participant, RecruitmentRecord, Trial

__all__ = ["Arm", "GazeDataset", "GazeFixations", "GazeMap", "GazeStimulus", "Item", "Job", "Participant",
           "RecruitmentRecord", "Stimulus", "Study", "Trial"]
