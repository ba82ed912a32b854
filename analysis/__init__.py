"""ExplainLab analysis: simulatability statistics, gaze maps from fixations, map-vs-gaze metrics.

A plain scientific library (numpy, scipy, pandas, statsmodels, matplotlib); it never imports
Django or `explainers`.
"""
from analysis.errors import AnalysisError, MapShapeError, MissingColumnsError

__all__ = ["AnalysisError", "MapShapeError", "MissingColumnsError"]
