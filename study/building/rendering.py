"""How a study's pictures are made: a data-set image read and scaled for display, one stimulus per item
and technique (the image under the method's map, or PV's own picture), and an arm's worked example."""

import io
from pathlib import Path

import numpy as np
import torch
from django.conf import settings
from PIL import Image, UnidentifiedImageError
from torch.nn import functional as F

import explainers
from explainers import LoadedModel
from explainers.pv import load_decoder
from explainers.render import jet_overlay, resize_maps, to_png, white_mask
from study.building.datasets import DatasetError, LabelledImage
from study.building.request import BuildError, BuildRequest
from study.progress import Report, silent

DISPLAY_SIZE = 224  # pixels on the longer side of item images and stimuli
EXAMPLE_GAP = 8  # transparent pixels between the image and its explanation in an arm's worked example
# How a map becomes a stimulus (PV arms always show the decoder's picture): "white_mask" keeps the image
# where the map is high and fades the rest to white (the PV paper); "jet" blends a jet colour map over it.
RENDERINGS = {"white_mask": white_mask, "jet": jet_overlay}


def open_image(image: LabelledImage) -> Image.Image:
    """The data-set image as RGB; a clear DatasetError naming the file when it cannot be read or is larger
    than settings.IMAGE_MAX_PIXELS (checked on its header, before it is decoded)."""
    try:
        with Image.open(image.path) as opened:
            width, height = opened.size
            if width * height > settings.IMAGE_MAX_PIXELS:
                raise DatasetError(
                    f"{image.name}: the image is {width} x {height} pixels ({width * height / 1e6:.1f} "
                    f"megapixels), past the limit of {settings.IMAGE_MAX_PIXELS / 1e6:g} megapixels per "
                    "image; "
                    "resize it (the study shows images at 224 pixels)")
            return opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"{image.path}: cannot read the image: {error}") from error


def display_image(image: Image.Image) -> Image.Image:
    """The image scaled (bicubic) so that its longer side is DISPLAY_SIZE pixels."""
    scale = DISPLAY_SIZE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC)


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def render(
    model: LoadedModel,
    images: list[Image.Image],
    displays: list[Image.Image],
    targets: list[int],
    technique: str,
    request: BuildRequest,
    decoder_path: Path | None,
    report: Report = silent,
) -> list[bytes]:
    """One PNG stimulus per image: PV images for "pv", otherwise the image masked by the method's map on
    white (as in the PV paper's code), at the size of the display image."""
    params = dict(request.method_params.get(technique, {}))
    if technique == "pv":
        params["decoder"] = load_decoder(decoder_path, model)
    pngs = []
    stage = f"rendering the {explainers.label(technique)} stimuli"
    report(0, len(images), stage)
    for start in range(0, len(images), request.batch_size):
        batch = model.preprocess(images[start : start + request.batch_size])
        out = explainers.explain(
            model, batch, targets[start : start + request.batch_size], technique, **params
        )
        for i, result in enumerate(out.detach().float().cpu()):
            display = displays[start + i]
            size = (display.height, display.width)
            if technique == "pv":  # (3, S, S) in [0, 1]: the picture itself, enlarged for display
                picture = F.interpolate(result[None], size=size, mode="bicubic", align_corners=False)[0]
                pngs.append(to_png(picture))
            else:
                image = torch.from_numpy(np.asarray(display, dtype=np.float32) / 255).permute(2, 0, 1)[None]
                stimulus = RENDERINGS[request.rendering](image, resize_maps(result[None], size).clamp(0, 1))
                pngs.append(to_png(stimulus[0].clamp(0, 1)))
        report(len(pngs), len(images), stage)
    return pngs


def example_pair(display: Image.Image, stimulus: bytes) -> bytes:
    """An arm's worked example as a PNG: the input image (left) and its explanation (right, a stimulus PNG
    of the same size), EXAMPLE_GAP transparent pixels apart; RGBA, (2 W + EXAMPLE_GAP) x H."""
    with Image.open(io.BytesIO(stimulus)) as explanation:
        explanation = explanation.convert("RGB")
    if explanation.size != display.size:
        raise BuildError(f"the example's explanation is {explanation.size}, its image {display.size}")
    pair = Image.new("RGBA", (2 * display.width + EXAMPLE_GAP, display.height), (0, 0, 0, 0))
    pair.paste(display.convert("RGB"), (0, 0))
    pair.paste(explanation, (display.width + EXAMPLE_GAP, 0))
    return png_bytes(pair)
