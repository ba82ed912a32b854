"""Explanation maps computed ahead into the map cache (EXPLAINER_CACHE_DIR) for a folder of images or a
study's item images: which images a `precompute_heatmaps` run or a "precompute" job covers, and one
batch of them as a job's shard computes it (a gaze report's shards too)."""
from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings

from explainers.images import IMAGE_SUFFIXES
from study.models import Item
from study.progress import Report


class PrecomputeError(ValueError):
    """The images to precompute cannot be found (no such study, no images in the folder)."""


def precompute_images(source: dict) -> list[str]:
    """The image files a precompute covers, sorted: `source` is {"study": slug} (its items' images, in
    their order) or {"folder": path} (every image under it). PrecomputeError when there are none."""
    if source.get("study"):
        items = Item.objects.filter(study__slug=source["study"]).order_by("position")
        images = [item.image.path for item in items]
        if not images:
            raise PrecomputeError(f"no study {source['study']!r} with items")
        return images
    folder = Path(source["folder"])
    images = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise PrecomputeError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {folder}")
    return images


def precompute_batch(params: dict, images: list[str], report: Report) -> None:
    """Compute the maps of `images` into the cache; `params` as a precompute job's: {model, methods,
    targets, params (per method), batch_size, device}. `report(done, total)` hears each batch."""
    from explainers.precompute import precompute

    precompute(_model(params["model"]), images, params["methods"], params.get("targets", "predicted"),
               params.get("batch_size", 32), params.get("device", settings.JOB_DEVICE),
               settings.EXPLAINER_CACHE_DIR, params=params.get("params"), progress=False,
               on_batch=lambda done, total: report(done, total))


@functools.lru_cache(maxsize=4)
def _model(spec: str):
    """A model loaded once per worker process (the shards of one job share it)."""
    import explainers

    return explainers.load_model(spec)
