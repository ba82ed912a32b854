"""A content-addressed store of explanation maps.

An entry's key is the sha256 of what determines the map: the model (weights hash, input size,
normalisation, target layer), the image's bytes, the method, its parameters and the target class.
Each entry is a folder `root/<key[:2]>/<key>/` holding `map.npy` ((h, w) float16 in [0, 1]),
rendered PNGs and `provenance.json`. Entries are built in `root/tmp/` and renamed into place, so
an entry is either complete or absent.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from explainers.errors import CacheError
from explainers.models import LoadedModel
from explainers.render import resize_maps

MAP_FILE = "map.npy"
PROVENANCE_FILE = "provenance.json"


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


@dataclass(frozen=True)
class CachedMap:
    """One complete cache entry: `load()` gives the map, `files` the rendered PNGs by name."""

    key: str
    folder: Path

    @property
    def map_path(self) -> Path:
        return self.folder / MAP_FILE

    @property
    def files(self) -> dict[str, Path]:
        """Rendered images by name (e.g. "overlay", "mask") -> path of the PNG."""
        return {path.stem: path for path in sorted(self.folder.glob("*.png"))}

    @property
    def provenance(self) -> dict:
        return json.loads((self.folder / PROVENANCE_FILE).read_text())

    def load(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """The map as (h, w) float32 in [0, 1], or bilinearly resized to `size` = (H, W)."""
        try:
            array = np.load(self.map_path).astype(np.float32)
        except (OSError, ValueError) as error:
            raise CacheError(f"cache entry {self.folder} is unreadable: {error}") from error
        if size is None or tuple(size) == array.shape:
            return array
        return resize_maps(torch.from_numpy(array)[None], tuple(size))[0].numpy()


class MapCache:
    """The store under `root`; `get`/`put` by key, `lookup` by what the key is made of."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def folder(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> CachedMap | None:
        """The complete entry for `key`, or None."""
        folder = self.folder(key)
        return CachedMap(key, folder) if (folder / PROVENANCE_FILE).is_file() else None

    def lookup(self, model: LoadedModel, image: str | Path, method: str, target: int,
               params: dict | None = None) -> CachedMap | None:
        """The entry for a model, image file, method, target and parameters (as `precompute` stored
        it), or None."""
        return self.get(map_key(model, file_sha256(image), method, params, target))

    def put(self, key: str, map_: np.ndarray, renders: dict[str, bytes], provenance: dict) -> CachedMap:
        """Store a (h, w) map in [0, 1] (as float16), PNG bytes by name and provenance, atomically."""
        if map_.ndim != 2:
            raise CacheError(f"a cached map must be (h, w), got shape {map_.shape}")
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=key[:16], dir=self.root / "tmp"))
        try:
            np.save(staging / MAP_FILE, map_.astype(np.float16))
            for name, data in renders.items():
                (staging / f"{name}.png").write_bytes(data)
            (staging / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=True))
            final = self.folder(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, final)
            except OSError:
                if not (final / PROVENANCE_FILE).is_file():  # not a twin written meanwhile: a real error
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return CachedMap(key, final)


def load_map(root: str | Path, model: LoadedModel, image: str | Path, method: str, target: int,
             params: dict | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """The cached (h, w) float32 map (resized to `size` if given); raises CacheError when absent."""
    entry = MapCache(root).lookup(model, image, method, target, params)
    if entry is None:
        raise CacheError(f"no cached {method} map for {image} (target {target}); run precompute_heatmaps")
    return entry.load(size)
