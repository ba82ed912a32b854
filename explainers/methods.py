"""The one list of explanation method names: canonical names, human labels and accepted aliases.

Commands, reports, pages and exports name methods through `parse_methods` and `label`, so an
alias such as "gradcampp" or "Grad-CAM++" means the same method everywhere.
"""
from __future__ import annotations

from collections.abc import Iterable

from explainers.errors import ExplainError

LABELS: dict[str, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "xgradcam": "XGrad-CAM",
    "layercam": "LayerCAM",
    "scorecam": "Score-CAM",
    "fem": "FEM",
    "cam": "CAM",
    "guided_gradcam": "Guided Grad-CAM",
    "reciprocam": "Recipro-CAM",
    "smooth_gradcam++": "Smooth Grad-CAM++",
    "gradient": "Gradient",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "guided_backprop": "Guided Backprop",
    "gradient_x_input": "Gradient x Input",
    "deconvnet": "DeconvNet",
    "deeplift": "DeepLIFT",
    "lrp": "LRP",
    "smoothgrad_squared": "SmoothGrad²",
    "vargrad": "VarGrad",
    "occlusion": "Occlusion",
    "rise": "RISE",
    "lime": "LIME",
    "pv": "Perception Visualization",
}

ALIASES: dict[str, str] = {
    "gradcampp": "gradcam++",
    "grad-cam": "gradcam",
    "grad-cam++": "gradcam++",
    "xgrad-cam": "xgradcam",
    "score-cam": "scorecam",
    "guided-gradcam": "guided_gradcam",
    "guided-grad-cam": "guided_gradcam",
    "recipro-cam": "reciprocam",
    "recipro_cam": "reciprocam",
    "smooth-gradcam++": "smooth_gradcam++",
    "smooth_gradcampp": "smooth_gradcam++",
    "smoothgradcampp": "smooth_gradcam++",
    "saliency": "gradient",
    "ig": "integrated_gradients",
    "integrated-gradients": "integrated_gradients",
    "guided-backprop": "guided_backprop",
    "gbp": "guided_backprop",
    "input_x_gradient": "gradient_x_input",
    "gradient-x-input": "gradient_x_input",
    "gxi": "gradient_x_input",
    "smoothgrad2": "smoothgrad_squared",
    "smoothgrad^2": "smoothgrad_squared",
    "perception_visualization": "pv",
}

# The eight methods the JEI 2021 review (Ayyar et al.) scores against gaze maps in its Table 1.
REVIEW_TABLE_1 = ("gradient", "guided_backprop", "smoothgrad", "integrated_gradients", "gradcam", "lrp",
                  "deeplift", "fem")


def canonical(name: str) -> str:
    """A method name or alias, any case -> the canonical name; ExplainError when unknown."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in LABELS:
        raise ExplainError(f"unknown method {name!r}; choose from {', '.join(LABELS)} "
                           f"(aliases: {', '.join(sorted(ALIASES))})")
    return key


def label(name: str) -> str:
    """Canonical name or alias -> the human label used in tables and figures ("Grad-CAM++")."""
    return LABELS[canonical(name)]


def parse_methods(text: str, allowed: Iterable[str] | None = None) -> list[str]:
    """'gradcam, gradcampp,LRP' -> ['gradcam', 'gradcam++', 'lrp']: distinct canonical names in the
    given order, each in `allowed` (default: all); ExplainError on an unknown, repeated or empty list."""
    names = [part for part in text.split(",") if part.strip()]
    if not names:
        raise ExplainError(f"no method named in {text!r}; choose from {', '.join(allowed or LABELS)}")
    methods = [canonical(name) for name in names]
    repeated = sorted({m for m in methods if methods.count(m) > 1})
    if repeated:
        raise ExplainError(f"methods named more than once in {text!r}: {', '.join(repeated)}")
    if allowed is not None:
        allowed = list(allowed)
        refused = [m for m in methods if m not in allowed]
        if refused:
            raise ExplainError(f"method(s) {', '.join(refused)} cannot be used here; "
                               f"choose from {', '.join(allowed)}")
    return methods
