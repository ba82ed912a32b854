"""Errors of the Perception Visualization package."""

from explainers.errors import ExplainerError


class PVError(ExplainerError):
    """Bad input to PV training, loading or composition (wrong shape, range, file or model)."""
