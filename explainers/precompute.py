"""Run a model over image files for several methods and targets, in batches, into a `MapCache`.

Each finished map is stored at once (atomically), so a second run recomputes nothing and an
interrupted run resumes where it stopped. Predictions used for `targets="predicted"` are cached
too.
"""
from __future__ import annotations

import inspect
import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torchvision
from tqdm import tqdm

from explainers import METHODS, PIXEL_METHODS, explain
from explainers.cache import CachedMap, MapCache, file_sha256, map_key, model_identity
from explainers.cam import CAM_METHODS
from explainers.errors import ExplainError
from explainers.models import LoadedModel, predict
from explainers.render import jet_overlay, to_png, white_mask

CACHEABLE = tuple(m for m in METHODS if m != "pv")  # PV needs a trained decoder: see explainers.pv


@dataclass(frozen=True)
class MapRecord(CachedMap):
    """A cache entry with what this run asked for: the image path, method and target. Use these
    rather than `provenance["image"]`, which names the path the map was first computed from (the
    cache is content-addressed, so a copy of an image elsewhere shares its entries)."""

    image: Path
    method: str
    target: int


def resolve_device(device: str) -> torch.device:
    """"auto" -> cuda when available else cpu; "cpu"/"cuda" as given (cuda must exist)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ExplainError(f"device must be auto, cpu or cuda, not {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ExplainError("device cuda was asked for but no CUDA device is available")
    return torch.device(device)


def method_params(method: str, given: dict | None) -> dict:
    """The full parameters of a method (defaults filled in), as stored in the key and provenance.
    SmoothGrad's noise is seeded (default seed 0) so that a cached map can be reproduced."""
    function = CAM_METHODS[method].__init__ if method in CAM_METHODS else PIXEL_METHODS[method]
    defaults = {name: p.default for name, p in list(inspect.signature(function).parameters.items())[3:]
                if name != "baseline"}
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ExplainError(f"{method} takes no parameter(s) {unknown}; it takes {sorted(defaults)}")
    if method == "smoothgrad" and given.get("seed") is None:
        given["seed"] = 0
    return {**defaults, **given}


def precompute(model: LoadedModel, image_paths: Sequence[str | Path], methods: Sequence[str],
               targets: str | Sequence[int] = "predicted", batch_size: int = 32, device: str = "auto",
               cache_dir: str | Path = "var/cache", params: dict[str, dict] | None = None,
               progress: bool = True) -> list[MapRecord]:
    """Maps for every image x method x target, cached under `cache_dir`; returns their records in
    that order (image-major). `targets` is "predicted" (each image's top class) or class indices explained for
    every image; `params` maps a method name to its keyword parameters. Moves the model to `device`."""
    unknown = sorted(set(methods) - set(CACHEABLE))
    if unknown:
        raise ExplainError(f"cannot precompute {unknown}; choose from {', '.join(CACHEABLE)}")
    if params and set(params) - set(methods):
        extra = sorted(set(params) - set(methods))
        raise ExplainError(f"parameters given for methods not asked for: {extra}")
    if targets != "predicted":
        targets = [int(t) for t in targets]
        if not targets or min(targets) < 0 or max(targets) >= len(model.class_names):
            raise ExplainError(
                f"targets must be 'predicted' or class indices in [0, {len(model.class_names)})")
    if batch_size < 1:
        raise ExplainError("batch size must be at least 1")
    full_params = {m: method_params(m, (params or {}).get(m)) for m in methods}
    paths = [Path(p) for p in image_paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ExplainError(f"image files not found: {missing[:5]}")

    model.to(resolve_device(device))
    cache = MapCache(cache_dir)
    identity = model_identity(model)
    records: list[MapRecord] = []
    batches = range(0, len(paths), batch_size)
    for start in tqdm(batches, desc="precompute", unit="batch", disable=not progress):
        batch = paths[start:start + batch_size]
        hashes = [file_sha256(p) for p in batch]
        batch_targets = _targets(model, cache, batch, hashes, targets)
        images = None  # preprocessed lazily: a fully cached batch never touches the model
        keys = {method: [[map_key(identity, h, method, full_params[method], t) for t in ts]
                         for h, ts in zip(hashes, batch_targets)] for method in methods}
        for method in methods:
            todo = [(i, t, key) for i, (ts, ks) in enumerate(zip(batch_targets, keys[method]))
                    for t, key in zip(ts, ks) if cache.get(key) is None]
            for chunk_start in range(0, len(todo), batch_size):
                chunk = todo[chunk_start:chunk_start + batch_size]
                if images is None:
                    images = model.preprocess(batch)
                _compute(model, cache, images, batch, hashes, method, full_params[method], chunk)
        for i, path in enumerate(batch):
            for method in methods:
                records.extend(MapRecord(key, cache.folder(key), path, method, target)
                               for target, key in zip(batch_targets[i], keys[method][i]))
    return records


def _targets(model, cache: MapCache, paths, hashes, targets) -> list[list[int]]:
    if targets != "predicted":
        return [list(targets) for _ in paths]
    folder = cache.root / "predictions"
    files = [folder / f"{map_key(model, h, 'predict', None, 0)}.json" for h in hashes]
    todo = [i for i, f in enumerate(files) if not f.is_file()]
    if todo:
        probabilities = predict(model, model.preprocess([paths[i] for i in todo])).cpu()
        folder.mkdir(parents=True, exist_ok=True)
        for i, row in zip(todo, probabilities):
            record = {"image": str(paths[i]), "predicted": int(row.argmax()), "probability": float(row.max())}
            partial = files[i].with_suffix(".tmp")
            partial.write_text(json.dumps(record))
            partial.replace(files[i])
    return [[json.loads(f.read_text())["predicted"]] for f in files]


def _compute(model: LoadedModel, cache: MapCache, images: torch.Tensor, paths, hashes, method: str,
             params: dict, chunk: list[tuple[int, int, str]]) -> None:
    rows = [i for i, _, _ in chunk]
    started = time.perf_counter()
    maps = explain(model, images[rows], [t for _, t, _ in chunk], method, **params)
    if maps.is_cuda:
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / len(chunk)
    display = model.to_display(images[rows])
    overlays, masks = jet_overlay(display, maps).cpu(), white_mask(display, maps).cpu()
    maps = maps.cpu().numpy()
    device_name = torch.cuda.get_device_name(images.device) if images.is_cuda else platform.processor()
    for n, (i, target, key) in enumerate(chunk):
        provenance = {
            "model": model.name, "model_identity": model_identity(model), "image": str(paths[i]),
            "image_hash": hashes[i], "method": method, "params": params, "target": target,
            "target_name": model.class_names[target], "device": str(images.device),
            "device_name": device_name,
            "seconds_per_image": round(seconds, 6), "batch_size": len(chunk),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "torchvision": torchvision.__version__, "numpy": np.__version__},
        }
        cache.put(key, maps[n], {"overlay": to_png(overlays[n]), "mask": to_png(masks[n])}, provenance)

