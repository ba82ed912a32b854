"""Run a model over image files for several methods and targets, in batches, into a `MapCache`.

The device never waits on files: threads hash each image once, decode and resize the next
batches while the current one is explained (on CUDA, JPEGs are decoded on the device), and a
writer thread stores each batch's maps as one shard. "Predicted" targets come from the forward
pass that computes the first CAM method's maps. A second run recomputes nothing; an interrupted
run resumes from its last stored shard; PNG renders are made on demand (`CachedMap.render`) or,
with `renders=True`, by a separate pool during the run.
"""
from __future__ import annotations

import inspect
import os
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from tqdm import tqdm

from explainers.cache import RENDERS, CachedMap, MapCache, map_key, model_identity
from explainers.dispatch import CAM_METHODS, PIXEL_METHODS, explain
from explainers.errors import ExplainError
from explainers.methods import MAP_METHODS
from explainers.models import LoadedModel, _as_rgb

CACHEABLE = MAP_METHODS  # every method that makes maps; PV needs a trained decoder: see explainers.pv
JPEG_SUFFIXES = {".jpg", ".jpeg"}
ProgressCallback = Callable[[int, int], None]


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
               progress: bool = True, renders: bool = False,
               on_batch: ProgressCallback | None = None) -> list[MapRecord]:
    """Maps for every image x method x target, cached under `cache_dir`; returns their records in
    that order (image-major). `targets` is "predicted" (each image's top class) or class indices
    explained for every image; `params` maps a method name to its keyword parameters. `renders`
    makes the PNGs during the run; `on_batch(images_done, images_to_do)` is called after each
    computed batch (raise in it to stop: stored shards stay). Moves the model to `device`."""
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

    torch_device = resolve_device(device)
    model.to(torch_device)
    run = _Run(model, MapCache(cache_dir), methods, full_params, targets, torch_device, renders)
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        hashes = [run.cache.known_hash(p) for p in paths]
        unknown = [i for i, h in enumerate(hashes) if h is None]
        for i, image_hash in zip(unknown, pool.map(run.cache.file_hash, [paths[i] for i in unknown])):
            hashes[i] = image_hash
        todo = [i for i, h in enumerate(hashes) if run.needs_work(h)]
        batches = [todo[s:s + batch_size] for s in range(0, len(todo), batch_size)]
        done = 0
        try:
            loaded = _prefetch(pool, run.loader, [[paths[i] for i in batch] for batch in batches])
            for rows, images in tqdm(zip(batches, loaded), total=len(batches), desc="precompute",
                                     unit="batch", disable=not progress):
                run.compute(images, [paths[i] for i in rows], [hashes[i] for i in rows])
                done += len(rows)
                if on_batch:
                    on_batch(done, len(todo))
        finally:
            run.close()
    return run.records(paths, hashes)


def _prefetch(pool: ThreadPoolExecutor, load, batches: list[list[Path]], ahead: int = 2) -> Iterator:
    """Yield `load(batch)` for each batch in order while the next `ahead` batches load in `pool`."""
    futures: list[Future] = [pool.submit(load, b) for b in batches[:ahead]]
    for n in range(len(batches)):
        if n + ahead < len(batches):
            futures.append(pool.submit(load, batches[n + ahead]))
        yield futures[n].result()


def _decode(path: Path, size: int) -> np.ndarray:
    """An image file -> (size, size, 3) uint8, resized as `LoadedModel.preprocess` does."""
    with Image.open(path) as image:
        return np.asarray(_as_rgb(image).resize((size, size), Image.BILINEAR))


@dataclass
class _Shard:
    """What one batch adds to the cache: keys, (n, h, w) map tensors, provenance, predictions."""

    paths: list[Path]
    hashes: list[str]
    keys: list[str] = field(default_factory=list)
    maps: list[torch.Tensor] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)
    predictions: dict[str, dict] = field(default_factory=dict)


class _Run:
    """One precompute run: what is stored, what to compute, the loader and the shard writer."""

    def __init__(self, model: LoadedModel, cache: MapCache, methods, params, targets, device, renders):
        self.model, self.cache, self.methods, self.params = model, cache, list(methods), params
        self.targets, self.device, self.renders = targets, device, renders
        self.identity = model_identity(model)
        self.keys: dict[tuple, str] = {}
        self.decoders = ThreadPoolExecutor(os.cpu_count() or 1)  # PIL and file reads release the GIL
        self.writer = ThreadPoolExecutor(1)
        self.render_pool = ThreadPoolExecutor(min(4, os.cpu_count() or 1)) if renders else None
        self.pending: list[Future] = []
        self.device_name = (torch.cuda.get_device_name(device) if device.type == "cuda"
                            else platform.processor())

    def prediction_key(self, image_hash: str) -> str:
        return self.key(image_hash, "predict", 0)

    def targets_of(self, image_hash: str) -> list[int] | None:
        if self.targets != "predicted":
            return list(self.targets)
        known = self.cache.prediction(self.prediction_key(image_hash))
        return [known["predicted"]] if known else None

    def key(self, image_hash: str, method: str, target: int) -> str:
        """The cache key of a map (method "predict": of a prediction), computed once per run."""
        found = self.keys.get((image_hash, method, target))
        if found is None:
            params = None if method == "predict" else self.params[method]
            found = map_key(self.identity, image_hash, method, params, target)
            self.keys[image_hash, method, target] = found
        return found

    def needs_work(self, image_hash: str) -> bool:
        targets = self.targets_of(image_hash)
        return targets is None or any(self.key(image_hash, m, t) not in self.cache
                                      for m in self.methods for t in targets)

    def loader(self, paths: list[Path]) -> torch.Tensor:
        """Files -> (B, 3, S, S) uint8, on the device for JPEGs on CUDA, else pinned on CUDA."""
        size = self.model.input_size
        if self.device.type == "cuda" and all(p.suffix.lower() in JPEG_SUFFIXES for p in paths):
            data = list(self.decoders.map(lambda p: torchvision.io.read_file(str(p)), paths))
            decoded = torchvision.io.decode_jpeg(data, mode=torchvision.io.ImageReadMode.RGB,
                                                 device=self.device)
            resized = [torch.nn.functional.interpolate(im[None].float(), size=(size, size), mode="bilinear",
                                                       antialias=True, align_corners=False) for im in decoded]
            return torch.cat(resized).round().clamp(0, 255).to(torch.uint8)
        batch = torch.from_numpy(np.stack(list(self.decoders.map(lambda p: _decode(p, size), paths))))
        batch = batch.permute(0, 3, 1, 2)
        return batch.pin_memory() if self.device.type == "cuda" else batch

    def compute(self, pixels: torch.Tensor, paths: list[Path], hashes: list[str]) -> None:
        """Explain one loaded batch with every method and hand its maps to the writer."""
        images = self.model.to_input(pixels.to(self.device, non_blocking=True).float() / 255.0)
        targets = [self.targets_of(h) for h in hashes]
        shard = _Shard(paths, hashes)
        for method in self.methods:
            started = time.perf_counter()
            if any(t is None for t in targets):  # the first method's forward pass gives the predictions
                method_maps, chosen = self._predicted_pass(images, method, shard)
                targets = [[c] for c in chosen]
                if method_maps is not None:
                    self._collect(shard, method, method_maps, list(range(len(paths))), chosen, started)
                    continue
            todo = [(i, t) for i, ts in enumerate(targets) for t in ts
                    if self._missing(shard, hashes[i], method, t)]
            for start in range(0, len(todo), len(paths)):
                rows, chunk_targets = map(list, zip(*todo[start:start + len(paths)]))
                chunk_maps = explain(self.model, images[rows], chunk_targets, method, **self.params[method])
                self._collect(shard, method, chunk_maps, rows, chunk_targets, started)
        if shard.keys:
            stacked = torch.cat(shard.maps).to(torch.float16).cpu().numpy()
            sources = {str(p): [p.stat().st_size, p.stat().st_mtime_ns, h] for p, h in zip(paths, hashes)}
            self.pending.append(self.writer.submit(self._write, shard.keys, stacked, shard.provenance,
                                                   shard.predictions, sources))

    def _missing(self, shard: _Shard, image_hash: str, method: str, target: int) -> bool:
        key = self.key(image_hash, method, target)
        return key not in self.cache and key not in shard.keys

    def _predicted_pass(self, images, method, shard: _Shard) -> tuple[torch.Tensor | None, list[int]]:
        """Targets of a batch whose predictions are not stored, from the forward pass that computes the
        maps of `method` when it is a CAM method (else from a plain forward pass, returning no maps)."""
        cam_class = CAM_METHODS.get(method)
        if cam_class is not None and hasattr(cam_class, "maps_and_scores"):
            cam = cam_class(self.model.module, self.model.target_layer, **self.params[method])
            method_maps, scores = cam.maps_and_scores(images, None)
        else:
            method_maps = None
            with torch.no_grad():
                scores = self.model.module(images)
        probabilities = scores.sigmoid() if self.model.multi_label else scores.softmax(dim=1)
        best = probabilities.max(dim=1)
        chosen = best.indices.tolist()
        for path, image_hash, c, p in zip(shard.paths, shard.hashes, chosen, best.values.tolist()):
            shard.predictions[self.prediction_key(image_hash)] = {"image": str(path), "predicted": c,
                                                                  "probability": p}
        return method_maps, chosen

    def _collect(self, shard: _Shard, method: str, method_maps: torch.Tensor, rows: list[int],
                 targets: list[int], started: float) -> None:
        """Add the maps of `rows` not stored yet to the shard, with their provenance."""
        seconds = (time.perf_counter() - started) / max(1, len(rows))
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        keep = []
        for n, (i, target) in enumerate(zip(rows, targets)):
            if not self._missing(shard, shard.hashes[i], method, target):
                continue
            keep.append(n)
            shard.keys.append(self.key(shard.hashes[i], method, target))
            shard.provenance.append({
                "model": self.model.name, "model_identity": self.identity, "image": str(shard.paths[i]),
                "image_hash": shard.hashes[i], "method": method, "params": self.params[method],
                "target": target,
                "target_name": self.model.class_names[target], "device": str(self.device),
                "device_name": self.device_name, "seconds_per_image": round(seconds, 6),
                "batch_size": len(rows), "created": created,
                "versions": {"python": platform.python_version(), "torch": torch.__version__,
                             "torchvision": torchvision.__version__, "numpy": np.__version__},
            })
        if keep:
            shard.maps.append(method_maps.detach()[keep] if len(keep) < len(rows) else method_maps.detach())

    def _write(self, keys, stacked, provenance, predictions, sources) -> None:
        shard = self.cache.put_shard(keys, stacked, provenance, predictions, sources)
        if self.render_pool:
            for row, key in enumerate(keys):
                entry = CachedMap(key, shard, row)
                self.pending.extend(self.render_pool.submit(entry.render, name) for name in RENDERS)

    def close(self) -> None:
        """Wait for the writer and renderers; raise the first error either met."""
        self.decoders.shutdown(wait=True)
        self.writer.shutdown(wait=True)
        if self.render_pool:
            self.render_pool.shutdown(wait=True)
        for future in self.pending:
            future.result()

    def records(self, paths: list[Path], hashes: list[str]) -> list[MapRecord]:
        out = []
        for path, image_hash in zip(paths, hashes):
            for method in self.methods:
                for target in self.targets_of(image_hash):
                    entry = self.cache.get(self.key(image_hash, method, target))
                    out.append(MapRecord(entry.key, entry.shard, entry.row, path, method, target))
        return out
