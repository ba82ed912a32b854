"""A content-addressed store of explanation maps, written in shards.

An entry's key is the sha256 of what determines the map: the model (weights hash, input size,
normalisation, target layer), the image's bytes, the method, its parameters and the target class.
Maps computed together are stored together: `root/shards/<id>.npy` holds (N, h, w) float16 maps in
[0, 1] and `root/shards/<id>.json` (the manifest) their keys, provenance and the predictions made
in the same pass. Each file is written under a temporary name in `root/tmp/` and renamed into place,
the array before the manifest, so a shard is either complete or invisible; any number of writers
may add shards at once. Rendered PNGs (jet overlay, white mask) are made on first request and kept
in `root/renders/`.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from explainers.errors import CacheError
from explainers.models import LoadedModel
from explainers.render import jet_overlay, resize_maps, to_png, white_mask

RENDERS = ("overlay", "mask")


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(model: LoadedModel) -> dict:
    """What of a model decides its maps besides the method: weights, input size, normalisation, layer."""
    return {"weights": model.weights_hash, "input_size": model.input_size, "mean": list(model.mean),
            "std": list(model.std), "target_layer": model.target_layer}


def map_key(model: LoadedModel | dict, image_hash: str, method: str, params: dict | None, target: int) -> str:
    """The cache key (sha256 hex) of one map; `model` is a LoadedModel or its `model_identity`."""
    identity = model_identity(model) if isinstance(model, LoadedModel) else model
    try:
        text = json.dumps({"model": identity, "image": image_hash, "method": method,
                           "params": params or {}, "target": int(target)}, sort_keys=True)
    except TypeError as error:
        raise CacheError(f"parameters of {method} must be JSON values to be cached: {error}") from error
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=256)
def _manifest(path: Path) -> dict:
    return json.loads(path.read_text())


@functools.lru_cache(maxsize=16)
def _array(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


@dataclass(frozen=True)
class CachedMap:
    """One stored map: row `row` of the shard array `shard` (a `.npy` file); `load()` gives the map."""

    key: str
    shard: Path
    row: int

    @property
    def provenance(self) -> dict:
        return _manifest(self.shard.with_suffix(".json"))["provenance"][self.row]

    @property
    def cache_root(self) -> Path:
        return self.shard.parent.parent

    def load(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """The map as (h, w) float32 in [0, 1], or bilinearly resized to `size` = (H, W)."""
        try:
            array = np.array(_array(self.shard)[self.row], dtype=np.float32)
        except (OSError, ValueError, IndexError) as error:
            raise CacheError(f"cache shard {self.shard} is unreadable: {error}") from error
        if size is None or tuple(size) == array.shape:
            return array
        return resize_maps(torch.from_numpy(array)[None], tuple(size))[0].numpy()

    def render(self, name: str) -> Path:
        """The PNG `name` ("overlay": jet blend, "mask": white mask) of this map over its image,
        made on first request from the image file named in the provenance, then kept."""
        if name not in RENDERS:
            raise CacheError(f"no render {name!r}; choose from {', '.join(RENDERS)}")
        path = self.cache_root / "renders" / self.key[:2] / f"{self.key}.{name}.png"
        if not path.is_file():
            pngs = render_pngs(Path(self.provenance["image"]), self.load()[None], (name,))
            write_atomic(path, pngs[0][name], self.cache_root)
        return path


def render_pngs(image: Path | np.ndarray, maps: np.ndarray, names=RENDERS) -> list[dict[str, bytes]]:
    """PNG bytes of each render in `names` for (N, h, w) maps in [0, 1] over one image (a file,
    resized bilinearly to (h, w) as `LoadedModel.preprocess` does, or an (h, w, 3) array in [0, 1])."""
    h, w = maps.shape[-2:]
    if not isinstance(image, np.ndarray):
        try:
            with Image.open(image) as opened:
                image = np.asarray(opened.convert("RGB").resize((w, h), Image.BILINEAR), np.float32) / 255
        except OSError as error:
            raise CacheError(f"cannot render over {image}: {error}") from error
    display = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
    display = display.expand(len(maps), -1, -1, -1)
    tensors = torch.from_numpy(np.asarray(maps, dtype=np.float32))
    made = {"overlay": lambda: jet_overlay(display, tensors), "mask": lambda: white_mask(display, tensors)}
    images = {name: made[name]() for name in names}
    return [{name: to_png(images[name][n]) for name in names} for n in range(len(maps))]


def write_atomic(path: Path, data: bytes, root: Path) -> None:
    """Write `data` to `path` through a uniquely named file in `root/tmp` and a rename."""
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    partial = root / "tmp" / f"{uuid.uuid4().hex}{path.suffix}"
    try:
        partial.write_bytes(data)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


class MapCache:
    """The store under `root`: `get` by key, `lookup` by what the key is made of, `put_shard` to add
    maps. The index of keys is read from the manifests once and refreshed with `refresh()`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.shards = self.root / "shards"
        self._seen: set[str] = set()
        self._maps: dict[str, tuple[Path, int]] = {}
        self._predictions: dict[str, dict] = {}
        self._sources: dict[str, list] = {}
        self.refresh()

    def refresh(self) -> None:
        """Read the manifests written since the last refresh (by this or any other writer)."""
        if not self.shards.is_dir():
            return
        for name in os.listdir(self.shards):
            if name.endswith(".json") and name not in self._seen:
                self._add(self.shards / name)

    def _add(self, manifest_path: Path) -> None:
        manifest = _manifest(manifest_path)
        array = manifest_path.with_suffix(".npy")
        for row, key in enumerate(manifest["keys"]):
            self._maps.setdefault(key, (array, row))
        for key, prediction in manifest.get("predictions", {}).items():
            self._predictions.setdefault(key, prediction)
        self._sources.update(manifest.get("sources", {}))
        self._seen.add(manifest_path.name)

    def __contains__(self, key: str) -> bool:
        return key in self._maps

    def __len__(self) -> int:
        return len(self._maps)

    def get(self, key: str) -> CachedMap | None:
        """The stored map for `key`, or None."""
        found = self._maps.get(key)
        return CachedMap(key, *found) if found else None

    def prediction(self, key: str) -> dict | None:
        """A stored prediction ({"predicted": class, "probability": p}) by its key, or None."""
        return self._predictions.get(key)

    def known_hash(self, path: Path) -> str | None:
        """sha256 of an image file as a writer recorded it in a manifest, if the file's path, size and
        modification time still match (as git's index does), else None."""
        known = self._sources.get(str(path))
        if known is None:
            return None
        stat = path.stat()
        return known[2] if known[:2] == [stat.st_size, stat.st_mtime_ns] else None

    def file_hash(self, path: Path) -> str:
        """sha256 of an image file: `known_hash`, else computed."""
        return self.known_hash(path) or file_sha256(path)

    def lookup(self, model: LoadedModel, image: str | Path, method: str, target: int,
               params: dict | None = None) -> CachedMap | None:
        """The entry for a model, image file, method, target and parameters (as `precompute` stored
        it), or None."""
        return self.get(map_key(model, file_sha256(image), method, params, target))

    def put_shard(self, keys: list[str], maps: np.ndarray, provenance: list[dict],
                  predictions: dict[str, dict] | None = None, sources: dict[str, list] | None = None) -> Path:
        """Store (N, h, w) maps in [0, 1] as float16 with their N keys and provenance records (and
        predictions by key, and image files' [size, mtime_ns, sha256] by path) as one new shard;
        returns the array's path. Atomic: array, then manifest."""
        if maps.ndim != 3 or len(maps) != len(keys) or len(provenance) != len(keys):
            raise CacheError(f"a shard needs (N, h, w) maps with N keys and provenance records, got "
                             f"{maps.shape}, {len(keys)} keys, {len(provenance)} records")
        name = uuid.uuid4().hex
        array_path = self.shards / f"{name}.npy"
        manifest_path = self.shards / f"{name}.json"
        write_atomic(array_path, _npy_bytes(maps.astype(np.float16)), self.root)
        manifest = {"keys": keys, "provenance": provenance, "predictions": predictions or {},
                    "sources": sources or {}}
        write_atomic(manifest_path, json.dumps(manifest).encode(), self.root)
        self._add(manifest_path)
        return array_path


def _npy_bytes(array: np.ndarray) -> bytes:
    handle = io.BytesIO()
    np.save(handle, array)
    return handle.getvalue()


def load_map(root: str | Path, model: LoadedModel, image: str | Path, method: str, target: int,
             params: dict | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """The cached (h, w) float32 map (resized to `size` if given); raises CacheError when absent."""
    entry = MapCache(root).lookup(model, image, method, target, params)
    if entry is None:
        raise CacheError(f"no cached {method} map for {image} (target {target}); run precompute_heatmaps")
    return entry.load(size)
