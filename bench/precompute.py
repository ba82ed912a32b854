"""Precompute throughput: maps/s from JPEG files on disk into the map cache, beside `explain()` alone on
the same images already preprocessed on the device (the ceiling).

Rows per model (Grad-CAM, predicted targets, 224 x 224, batch 64): `explain() alone`; `end to end`
(hash, decode, one forward+backward per batch, store shards; renders left for the pages); `with
renders` (the jet overlay and white mask PNGs made during the run); `cached rerun` (everything
already stored). Models: EfficientNet-Lite0 (bundled weights) and ResNet-50 (random weights).
Images: JPEGs cut from the scikit-image photos, written to a temporary folder.
Run: .venv/bin/python bench/precompute.py [--device cpu|cuda] [--images 128] [--batch-size 64]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from explainers import explain, load_model  # noqa: E402
from explainers.precompute import precompute  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "cat", "immunohistochemistry")


def write_jpegs(folder: Path, n: int) -> list[Path]:
    """`n` distinct 400 x 400 JPEGs: crops at varying offsets and scales of the scikit-image photos."""
    rng = np.random.default_rng(0)
    photos = [np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB")) for name in PHOTOS]
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(photo[top:top + side, left:left + side]).resize((400, 400), Image.BILINEAR)
        paths.append(folder / f"{i:04d}.jpg")
        crop.save(paths[-1], quality=90)
    return paths


def resnet50():
    torch.manual_seed(0)
    return load_model({"arch": "resnet50", "name": "resnet50"})


MODELS = {"EfficientNet-Lite0": lambda: load_model("efficientnet-lite0"), "ResNet-50": resnet50}


def timed(function) -> float:
    started = time.perf_counter()
    function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started


def run(name: str, model, paths: list[Path], device: str, batch_size: int, root: Path) -> list[tuple]:
    model.to(device)
    images = model.preprocess(paths).to(device)
    with torch.no_grad():
        targets = torch.cat([model.module(images[s:s + batch_size]).argmax(dim=1)
                             for s in range(0, len(images), batch_size)])
    explain(model, images[:batch_size], targets[:batch_size], "gradcam")  # warm-up (kernels, allocator)

    def explain_alone():
        for s in range(0, len(images), batch_size):
            explain(model, images[s:s + batch_size], targets[s:s + batch_size], "gradcam")

    seconds = {"explain() alone (images on the device)": timed(explain_alone)}

    def into(cache: str, renders: bool):
        return lambda: precompute(model, paths, ["gradcam"], batch_size=batch_size, device=device,
                                  cache_dir=root / cache, progress=False, renders=renders)

    seconds["end to end, JPEG files -> cache"] = timed(into(f"{name}-a", False))
    seconds["end to end with PNG renders"] = timed(into(f"{name}-b", True))
    seconds["cached rerun (median of 3)"] = sorted(timed(into(f"{name}-a", False)) for _ in range(3))[1]
    ceiling = len(paths) / seconds["explain() alone (images on the device)"]
    return [(name, row, len(paths) / s, len(paths) / s / ceiling) for row, s in seconds.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-precompute-") as temporary:
        root = Path(temporary)
        (root / "images").mkdir()
        paths = write_jpegs(root / "images", args.images)
        for name, load in MODELS.items():
            rows += run(name, load(), paths, args.device, args.batch_size, root)
    threads = torch.get_num_threads()
    device = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {threads} threads"
    print(f"\nPrecompute, Grad-CAM with predicted targets, {args.images} JPEGs (400 x 400) -> 224 x 224, "
          f"batch {args.batch_size}, {device}, torch {torch.__version__}, load average {os.getloadavg()}")
    print(f"{'model':<20} {'run':<42} {'maps/s':>10} {'x explain()':>12}")
    for model, row, rate, ratio in rows:
        print(f"{model:<20} {row:<42} {rate:>10.1f} {ratio:>12.2f}")


if __name__ == "__main__":
    main()
