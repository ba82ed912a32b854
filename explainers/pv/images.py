"""PV images for a batch: a saliency map (Grad-CAM by default) over the decoder's reconstruction."""

from pathlib import Path

import torch

from explainers.dispatch import explain
from explainers.models import LoadedModel

from .compose import compose_pv
from .decoder import Decoder
from .errors import PVError
from .train import encoder_of, load_decoder


def pv_images(
    model: LoadedModel,
    images: torch.Tensor,
    targets,
    decoder: Decoder | str | Path,
    saliency: str = "gradcam",
    **params,
) -> torch.Tensor:
    """(B, 3, H, W) preprocessed batch, one target class per image -> (B, 3, H, W) PV images in [0, 1].

    `decoder` is a trained decoder or the path of its checkpoint; it must have been trained for this
    model (same weights hash). `saliency` names the `explain` method giving the maps; `params` go to it.
    """
    if not isinstance(model, LoadedModel):
        raise PVError("PV needs a LoadedModel (its normalisation and weights hash), not a bare module")
    if saliency == "pv":
        raise PVError("the saliency method of PV must be a map method, not 'pv'")
    if not isinstance(decoder, Decoder):
        decoder = load_decoder(decoder, model)
    if decoder.weights_hash != model.weights_hash:
        raise PVError(
            f"this decoder was trained for another model (weights {str(decoder.weights_hash)[:12]}), "
            f"not {model.name} (weights {model.weights_hash[:12]})"
        )
    if tuple(images.shape[-2:]) != decoder.config.out_size:
        raise PVError(
            f"images are {tuple(images.shape[-2:])} but the decoder makes {decoder.config.out_size}"
        )
    maps = explain(model, images, targets, saliency, **params)
    with torch.no_grad():
        reconstruction = decoder.to(images.device).eval()(
            encoder_of(model, decoder.layer)(model.to_display(images))
        )
    return compose_pv(maps, reconstruction.float())
