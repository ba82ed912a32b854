"""ExplainLab analysis: simulatability statistics, gaze maps from fixations, map-vs-gaze metrics.

A plain scientific library (numpy, scipy, pandas, statsmodels, matplotlib); it never imports
Django or `explainers`.
"""
from analysis.errors import AnalysisError, MapShapeError, MissingColumnsError

CONTROL_TECHNIQUE = "none"  # the technique of a no-explanation control arm (the study's CONTROL)

__all__ = ["AnalysisError", "CONTROL_TECHNIQUE", "MapShapeError", "MissingColumnsError"]
