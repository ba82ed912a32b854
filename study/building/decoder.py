"""The PV decoder of a build: trained and cached when absent, and used only when it beats the mean image
on held-out images by the requested margins (the quality gate)."""

import os
import uuid
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from explainers import LoadedModel
from explainers.pv import (
    MIN_PSNR_MARGIN_DB,
    MIN_SSIM_MARGIN,
    TrainResult,
    check_quality,
    decoder_quality,
    load_decoder,
    load_images,
    train_decoder,
)
from study.building.datasets import Dataset
from study.building.rendering import open_image
from study.building.request import BuildError, BuildRequest
from study.progress import Report


def gated_decoder(
    request: BuildRequest, model: LoadedModel, dataset: Dataset, progress: bool, report: Report
) -> tuple[Path, dict]:
    """The PV decoder's path, and the layer it inverts with its quality (for the provenance). Trained (and
    cached) when absent, judged on its held-out split; a given or cached decoder is judged on the data
    set's images. DecoderQualityError when it does not
    beat the mean image by the request's margins (a decoder trained now is then not kept)."""
    layer = request.decoder_layer or model.target_layer
    try:
        model.module.get_submodule(layer)
    except AttributeError:
        raise BuildError(f"the model has no layer {layer!r} for the PV decoder to invert") from None
    path = request.decoder or decoder_cache_path(model, layer)
    margins = (request.decoder_min_ssim_margin, request.decoder_min_psnr_margin)
    if not path.exists():
        report(0, 0, "training the PV decoder")  # its number of steps is known once training starts
        result = ensure_decoder(
            model, [open_image(i) for i in dataset.images], path, request.decoder_epochs, request.seed,
            request.device, progress, lambda done, total: report(done, total, "training the PV decoder"),
            layer=layer, margins=margins,
        )
        quality = result.quality
        source = f"held-out {result.n_val} of the {result.n_train + result.n_val} training images"
    else:
        decoder = load_decoder(path, model)
        if request.decoder_layer and decoder.layer != request.decoder_layer:
            raise BuildError(
                f"the PV decoder {path.name} inverts {decoder.layer!r}, not {request.decoder_layer!r}"
            )
        report(0, 1, "checking the PV decoder against the mean image")
        images = load_images([open_image(i) for i in dataset.images], model.input_size)
        quality = decoder_quality(decoder, model, images, batch_size=request.batch_size)
        report(1, 1, "checking the PV decoder against the mean image")
        check_quality(quality, *margins)
        layer, source = decoder.layer, "the data set's images (the mean image is theirs)"
    return path, {"layer": layer, "quality": quality.as_dict(), "measured_on": source,
                  "min_margins": {"ssim": margins[0], "psnr_db": margins[1]}}


def ensure_decoder(
    model: LoadedModel,
    images: list,
    path: Path,
    epochs: int,
    seed: int,
    device: str = "cpu",
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    *,
    layer: str | None = None,
    margins: tuple[float, float] = (MIN_SSIM_MARGIN, MIN_PSNR_MARGIN_DB),
    **train_options,
) -> TrainResult | None:
    """Train the PV decoder of `model` inverting `layer` (default: its target layer) on `images` (PIL
    images or uint8 arrays) into `path`, unless it exists; it is written under a temporary name and
    renamed when training ends and it passed the quality gate (SSIM and PSNR `margins` over the mean
    image on the held-out split; DecoderQualityError otherwise), so an interrupted or failed run leaves
    no decoder at `path`. `train_options` go to `train_decoder`. Returns the training result, or None
    if cached."""
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
    try:
        result = train_decoder(
            model, images, staging, epochs=epochs, seed=seed, device=device, progress=progress,
            on_batch=on_batch, layer=layer, **train_options,
        )
        check_quality(result.quality, *margins)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return result


def decoder_cache_path(model: LoadedModel, layer: str | None = None) -> Path:
    """Where the PV decoder trained for this model (weights) inverting `layer` (default: its target
    layer) is cached."""
    return (
        Path(settings.EXPLAINER_CACHE_DIR) / "decoders"
        / f"{model.weights_hash[:20]}-{layer or model.target_layer}.pt"
    )
