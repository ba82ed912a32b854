"""Exception type of the `evaluation` package; commands turn it into a clear message."""


class EvaluationError(ValueError):
    """Inputs an evaluation cannot use: shapes, targets, boxes, an unknown baseline or layer."""
