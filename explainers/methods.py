"""The one registry of explanation methods: canonical names, human labels, kinds, implementations
and accepted aliases.

Commands, reports, pages and exports name methods through `parse_methods` and `label`, so an
alias such as "gradcampp" or "Grad-CAM++" means the same method everywhere. `explainers.explain`
dispatches by a method's kind. Naming methods loads no torch: an implementation is imported when
it is first asked for (`Method.load`).
"""
from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from explainers.errors import ExplainError


@dataclass(frozen=True)
class Method:
    """One explanation method. `kind` "cam": a `explainers.cam.BaseCAM` subclass, built with
    (module, target_layer, **params); "pixel": a function (module, images, targets, **params) ->
    (B, 3, H, W) attributions or (B, H, W) maps; "pv": `explainers.pv.pv_images`."""

    label: str
    kind: Literal["cam", "pixel", "pv"]
    implementation: str  # "module:name"

    def load(self):
        """The class or function that computes the method (imports its module, and so torch)."""
        module, name = self.implementation.split(":")
        return getattr(importlib.import_module(module), name)


REGISTRY: dict[str, Method] = {
    "gradcam": Method("Grad-CAM", "cam", "explainers.cam:GradCAM"),
    "gradcam++": Method("Grad-CAM++", "cam", "explainers.cam:GradCAMPlusPlus"),
    "xgradcam": Method("XGrad-CAM", "cam", "explainers.cam:XGradCAM"),
    "layercam": Method("LayerCAM", "cam", "explainers.cam:LayerCAM"),
    "scorecam": Method("Score-CAM", "cam", "explainers.cam:ScoreCAM"),
    "fem": Method("FEM", "cam", "explainers.cam:FEM"),
    "cam": Method("CAM", "cam", "explainers.cam:CAM"),
    "guided_gradcam": Method("Guided Grad-CAM", "cam", "explainers.cam:GuidedGradCAM"),
    "reciprocam": Method("Recipro-CAM", "cam", "explainers.cam:ReciproCAM"),
    "smooth_gradcam++": Method("Smooth Grad-CAM++", "cam", "explainers.cam:SmoothGradCAMPlusPlus"),
    "gradient": Method("Gradient", "pixel", "explainers.attribution:gradient_attributions"),
    "smoothgrad": Method("SmoothGrad", "pixel", "explainers.attribution:smoothgrad_attributions"),
    "integrated_gradients": Method("Integrated Gradients", "pixel",
                                   "explainers.attribution:integrated_gradients_attributions"),
    "guided_backprop": Method("Guided Backprop", "pixel",
                              "explainers.attribution:guided_backprop_attributions"),
    "gradient_x_input": Method("Gradient x Input", "pixel",
                               "explainers.attribution:gradient_x_input_attributions"),
    "deconvnet": Method("DeconvNet", "pixel", "explainers.propagation:deconvnet_attributions"),
    "deeplift": Method("DeepLIFT", "pixel", "explainers.propagation:deeplift_attributions"),
    "lrp": Method("LRP", "pixel", "explainers.lrp:lrp_attributions"),
    "smoothgrad_squared": Method("SmoothGrad²", "pixel",
                                 "explainers.attribution:smoothgrad_squared_attributions"),
    "vargrad": Method("VarGrad", "pixel", "explainers.attribution:vargrad_attributions"),
    "occlusion": Method("Occlusion", "pixel", "explainers.perturbation:occlusion_attributions"),
    "rise": Method("RISE", "pixel", "explainers.perturbation:rise_attributions"),
    "lime": Method("LIME", "pixel", "explainers.perturbation:lime_attributions"),
    "pv": Method("Perception Visualization", "pv", "explainers.pv:pv_images"),
}

LABELS: dict[str, str] = {name: method.label for name, method in REGISTRY.items()}
MAP_METHODS = tuple(name for name, method in REGISTRY.items() if method.kind != "pv")  # (B, H, W) maps

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
