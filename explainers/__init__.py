"""Explanation maps for CNN classifiers, batched on any device. No Django here.

    model = load_model("efficientnet-lite0")
    maps = explain(model, model.preprocess(images), targets, "gradcam")   # (B, H, W) in [0, 1]
"""
from __future__ import annotations

import inspect

import torch
from torch import nn

from explainers import attribution
from explainers.cam import CAM_METHODS, as_targets
from explainers.errors import CacheError, ExplainError, ExplainerError, ModelLoadError
from explainers.models import LoadedModel, load_model, predict

PIXEL_METHODS = {
    "gradient": attribution.gradient_attributions,
    "smoothgrad": attribution.smoothgrad_attributions,
    "integrated_gradients": attribution.integrated_gradients_attributions,
    "guided_backprop": attribution.guided_backprop_attributions,
}
METHODS = (*CAM_METHODS, *PIXEL_METHODS, "pv")

__all__ = ["METHODS", "CacheError", "ExplainError", "ExplainerError", "LoadedModel", "ModelLoadError",
           "explain", "load_model", "predict"]


def explain(model: LoadedModel | nn.Module, images: torch.Tensor, targets, method: str,
            target_layer: str | nn.Module | None = None, **params) -> torch.Tensor:
    """(B, 3, H, W) preprocessed batch and one target class per image -> (B, H, W) float32 maps in
    [0, 1] on the images' device, explaining the pre-softmax (pre-sigmoid) score.

    `model` is a LoadedModel (its target layer is the default) or an nn.Module in eval mode with
    `target_layer` given for CAM methods. Methods: gradcam, gradcam++, xgradcam, layercam,
    scorecam (chunk_size), fem (k; not class-specific), gradient, smoothgrad (n, sigma, seed),
    integrated_gradients (steps, baseline: default the black image for a LoadedModel),
    guided_backprop, and pv, which returns (B, 3, H, W) Perception Visualization images from
    `explainers.pv.pv_images(model, images, targets, decoder=..., saliency="gradcam", **params)`."""
    module = model.module if isinstance(model, LoadedModel) else model
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ExplainError("images must be a (B, 3, H, W) tensor; use model.preprocess(...) first")
    device = next(module.parameters()).device
    if images.device != device:
        raise ExplainError(f"images are on {images.device} but the model is on {device}")
    as_targets(targets, len(images), images.device)
    if method == "pv":
        from explainers.pv import pv_images

        return pv_images(model, images, targets, **params)
    if method in CAM_METHODS:
        layer = target_layer or (model.target_layer if isinstance(model, LoadedModel) else None)
        if layer is None:
            raise ExplainError(f"{method} needs a target_layer for a bare nn.Module")
        cam_class = CAM_METHODS[method]
        _check_params(method, cam_class.__init__, params, skip=3)
        return cam_class(module, layer, **params)(images, targets)
    if method in PIXEL_METHODS:
        function = PIXEL_METHODS[method]
        _check_params(method, function, params, skip=3)
        if method == "integrated_gradients" and "baseline" not in params and isinstance(model, LoadedModel):
            params["baseline"] = model.black(images.shape[-2:])
        return attribution.pixel_map(function(module, images, targets, **params))
    raise ExplainError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def _check_params(method: str, function, params: dict, skip: int) -> None:
    allowed = list(inspect.signature(function).parameters)[skip:]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ExplainError(f"{method} takes no parameter(s) {unknown}; it takes {allowed}")
