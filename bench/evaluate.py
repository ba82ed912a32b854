"""Deletion and insertion (evaluation.faithfulness) beside Quantus' PixelFlipping in one run, and the
deletion/insertion AUC of the CAM family with EfficientNet-Lite0 on the demo gallery's six photos.

Quantus has no insertion, so only deletion is timed against it. Its PixelFlipping flips (channel,
pixel) features and insists that its step divide H W, which no whole-pixel step does at 224 x 224
(3 * step features per step would, 224 * 224 = 2^10 * 7^2 has no factor 3): the bench therefore
calls its `evaluate_batch` directly with features_in_step = 3 * step, the map repeated over the
channels, the same model, images, maps (their ties broken at random beforehand: its argsort is not
stable), baseline (0 in input space: grey for Lite0) and softmax scores. Both see the same images.

The images are the gallery photos, mirrored and cycled to reach --images. On the shared 2-core
machine a 224 x 224 forward pass of EfficientNet-Lite0 takes about 0.1-0.2 s, so the defaults
(8 images, 16 steps) keep a run to minutes; the issue's 100 images at RISE's 224-pixel steps is
`--images 100 --step 224` (45,000 forward passes). Run: .venv/bin/python bench/evaluate.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from evaluation import deletion_curve, insertion_curve  # noqa: E402
from evaluation.scoring import probabilities  # noqa: E402
from explainers import explain, load_model  # noqa: E402

CAM_FAMILY = ("gradcam", "gradcam++", "xgradcam", "layercam", "fem")


def gallery_photos() -> dict[str, np.ndarray]:
    """The six photos of the demo gallery (study.building.demo.gallery_photos, without Django)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(skimage.data, name)() for name in ("chelsea", "coffee", "astronaut", "rocket")}
    sample = load_sample_images()
    photos |= {Path(path).stem: image for path, image in zip(sample.filenames, sample.images)}
    return photos


def quantus_deletion(module, x, targets, maps, step: int) -> np.ndarray:
    """Quantus' PixelFlipping curve, (B, T - 1): the probability after each step."""
    from quantus import PixelFlipping
    from quantus.helpers.model.pytorch_model import PyTorchModel

    metric = PixelFlipping(features_in_step=3 * step, perturb_baseline=0.0, normalise=False, abs=False,
                           disable_warnings=True)
    wrapped = PyTorchModel(module, channel_first=True, softmax=True, device=str(x.device))
    a = maps[:, None].expand(-1, 3, -1, -1).cpu().numpy()
    return np.array(metric.evaluate_batch(model=wrapped, x_batch=x.cpu().numpy(),
                                          y_batch=targets.cpu().numpy(), a_batch=a))


def without_ties(maps: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(B, H, W) maps -> the rank of each pixel in its map / (H W), ties put in a seeded random order.

    Upsampled Grad-CAM maps hold thousands of equal values, and Quantus' argsort is not stable, so the
    two would delete tied pixels in different orders. Ranks keep each map's order and leave no tie
    (an additive jitter does not: near 0.5, float32 resolves only about 17 levels in 1e-6)."""
    flat = maps.flatten(1)
    shuffle = torch.rand(flat.shape, generator=torch.Generator().manual_seed(seed)).argsort(dim=1)
    order = shuffle.gather(1, flat.gather(1, shuffle).argsort(dim=1, stable=True))
    ranks = torch.empty_like(order).scatter_(1, order, torch.arange(flat.shape[1]).expand_as(order))
    return (ranks.float() / flat.shape[1]).view_as(maps)


def forward_passes(model, x, copies: int, batch_size: int) -> None:
    """The floor of a curve: as many class probabilities as it computes (each image `copies` times),
    in batches of `batch_size`, on the images as they are (building the step images is left out)."""
    batch = x.repeat(-(-batch_size // len(x)), 1, 1, 1)[:batch_size]
    total = len(x) * copies
    for start in range(0, total, batch_size):
        probabilities(model, batch[:min(batch_size, total - start)], batch_size)


def timed(function, repeats: int = 2):
    """(result, best wall time in s of `repeats` runs): the first run also pays oneDNN's set-up per shape."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return result, min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--step", type=int, default=224 * 224 // 16, help="pixels per step (speed table)")
    parser.add_argument("--cam-step", type=int, default=224 * 224 // 32, help="pixels per step (CAM table)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("efficientnet-lite0")
    photos = gallery_photos()
    print(f"load average before: {os.getloadavg()} on {os.cpu_count()} cores; torch threads {args.threads}")

    pool = list(photos.values()) + [p[:, ::-1].copy() for p in photos.values()]
    x = model.preprocess([pool[i % len(pool)] for i in range(args.images)])
    targets = model.module(x[:64]).argmax(1) if len(x) <= 64 else torch.cat(
        [model.module(x[i:i + 64]).argmax(1) for i in range(0, len(x), 64)])
    maps = without_ties(explain(model, x, targets, "gradcam").detach())
    steps = -(-224 * 224 // args.step)
    grey = torch.zeros(1, 3, 1, 1)
    deletion, t_del = timed(lambda: deletion_curve(model, x, targets, maps, step=args.step, baseline=grey,
                                                   batch_size=args.batch_size))
    insertion, t_ins = timed(lambda: insertion_curve(model, x, targets, maps, step=args.step,
                                                     batch_size=args.batch_size))
    theirs, t_q = timed(lambda: quantus_deletion(model.module, x, targets, maps, args.step))
    _, t_floor = timed(lambda: forward_passes(model, x, steps + 1, args.batch_size))
    gap = np.abs(deletion.scores[:, 1:] - theirs).max()
    print(f"\n{args.images} images at 224 x 224, {args.step} pixels per step ({steps} steps), "
          "Grad-CAM maps, CPU")
    print("best of 2 runs each")
    print("| curve | evaluation (s) | Quantus PixelFlipping (s) | speed-up | max |diff| of the curves |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| deletion (baseline 0 = grey) | {t_del:.1f} | {t_q:.1f} | {t_q / t_del:.2f}x | {gap:.2e} |")
    print(f"| insertion (blur) | {t_ins:.1f} | n/a (Quantus has no insertion) | | |")
    floor = f"the {len(x) * (steps + 1)} forward passes alone, {args.batch_size} a batch"
    print(f"| {floor} | {t_floor:.1f} | | | |")
    print(f"load average after: {os.getloadavg()}")

    x = model.preprocess(list(photos.values()))
    targets = model.module(x).argmax(1)
    print(f"\nCAM family, EfficientNet-Lite0, the {len(photos)} gallery photos ({', '.join(photos)}), "
          f"top-1 class, {args.cam_step} pixels per step; AUC mean ± SD (deletion: lower is better, "
          "black baseline; insertion: higher is better, blurred baseline)")
    print("| method | deletion AUC | insertion AUC | seconds |")
    print("| --- | --- | --- | --- |")
    for method in CAM_FAMILY:
        started = time.perf_counter()
        cam = explain(model, x, targets, method).detach()
        d = deletion_curve(model, x, targets, cam, step=args.cam_step, batch_size=args.batch_size).auc
        i = insertion_curve(model, x, targets, cam, step=args.cam_step, batch_size=args.batch_size).auc
        print(f"| {method} | {d.mean():.4f} ± {d.std(ddof=1):.4f} | {i.mean():.4f} ± {i.std(ddof=1):.4f} | "
              f"{time.perf_counter() - started:.1f} |")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
