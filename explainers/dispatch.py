"""`explain`: one call for every method, dispatched by its kind in `explainers.methods.REGISTRY`
(CAM, pixel, PV). Reached as `explainers.explain`."""
from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from explainers.attribution import pixel_map
from explainers.cam import BaseCAM
from explainers.errors import ExplainError
from explainers.methods import LABELS, REGISTRY
from explainers.models import LoadedModel
from explainers.targets import as_targets

CAM_METHODS: dict[str, type[BaseCAM]] = {name: m.load() for name, m in REGISTRY.items() if m.kind == "cam"}
PIXEL_METHODS: dict[str, Callable] = {name: m.load() for name, m in REGISTRY.items() if m.kind == "pixel"}


def explain(model: LoadedModel | nn.Module, images: torch.Tensor, targets, method: str,
            target_layer: str | nn.Module | None = None, **params) -> torch.Tensor:
    """(B, 3, H, W) preprocessed batch and one target class per image -> (B, H, W) float32 maps in
    [0, 1] on the images' device, explaining the pre-softmax (pre-sigmoid) score.

    `model` is a LoadedModel (its target layer is the default) or an nn.Module in eval mode with
    `target_layer` given for CAM methods. Methods (parameters; names and aliases in
    `explainers.methods`):
    - CAM family: gradcam, gradcam++, xgradcam, layercam, scorecam (chunk_size), fem (k; not
      class-specific), cam (classifier), guided_gradcam, reciprocam (batch_size),
      smooth_gradcam++ (n, sigma, seed);
    - gradients: gradient, smoothgrad (n, sigma, seed), integrated_gradients (steps,
      internal_batch_size, baseline), guided_backprop, gradient_x_input, deconvnet, deeplift
      (baseline, eps), lrp (rule: epsilon | gamma | alpha1beta0 | composite, epsilon, gamma),
      smoothgrad_squared and vargrad (base, n, sigma, seed, baseline);
    - perturbation: occlusion (window, stride, baseline, internal_batch_size), rise (masks, cells,
      p, seed, baseline, internal_batch_size, mask_chunk), lime (samples, segmentation: grid | slic,
      n_segments, kernel_width, k, alpha, seed, baseline, internal_batch_size);
    - pv, which returns (B, 3, H, W) Perception Visualization images from
      `explainers.pv.pv_images(model, images, targets, decoder=..., saliency="gradcam", **params)`.
    A `baseline` defaults to the black image for a LoadedModel, to zeros for a bare module."""
    module = model.module if isinstance(model, LoadedModel) else model
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ExplainError("images must be a (B, 3, H, W) tensor; use model.preprocess(...) first")
    device = next(module.parameters(), images).device
    if images.device != device:
        raise ExplainError(f"images are on {images.device} but the model is on {device}")
    as_targets(targets, len(images), images.device)
    entry = REGISTRY.get(method)
    if entry is not None and entry.kind == "pv":
        return entry.load()(model, images, targets, **params)
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
        takes_baseline = "baseline" in inspect.signature(function).parameters
        if takes_baseline and "baseline" not in params and isinstance(model, LoadedModel):
            params["baseline"] = model.black(images.shape[-2:])
        return pixel_map(function(module, images, targets, **params))
    raise ExplainError(f"unknown method {method!r}; choose from {', '.join(LABELS)}")


def _check_params(method: str, function, params: dict, skip: int) -> None:
    allowed = list(inspect.signature(function).parameters)[skip:]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ExplainError(f"{method} takes no parameter(s) {unknown}; it takes {allowed}")
