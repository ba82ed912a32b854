"""Exception types of the `explainers` package; callers turn them into clear messages."""


class ExplainerError(Exception):
    """Base class of every error raised on purpose by `explainers`."""


class ModelLoadError(ExplainerError):
    """A model spec could not be turned into a working model (missing file, bad shapes, ...)."""


class ExplainError(ExplainerError):
    """An explanation could not be computed from the given inputs (bad targets, layer, method)."""


class CacheError(ExplainerError):
    """The map cache holds something unreadable or was asked for something it cannot store."""
