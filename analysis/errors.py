"""Exception types of the analysis library."""


class AnalysisError(ValueError):
    """Base class: the input to an analysis function is unusable (wrong shape, values, columns)."""


class MapShapeError(AnalysisError):
    """Maps, gaze maps or fixation points do not have the shapes a function needs."""


class MissingColumnsError(AnalysisError):
    """A trials or participants frame lacks columns an analysis needs."""
