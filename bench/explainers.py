"""Explanation-map throughput: explainers vs pytorch-grad-cam (CAM family) and captum (pixel
methods) on the same model, batch, targets and target layer, next to the bare forward pass under
no_grad; plus Score-CAM's peak memory on ResNet-50 at 224 x 224, measured in a fresh process.

Models: EfficientNet-Lite0 (bundled ImageNet weights, target `_bn1`) and ResNet-50 (random
weights, target `layer4`). Inputs: scikit-image photos cycled to the batch size.
Run: .venv/bin/python bench/explainers.py [--device cpu,cuda] [--repeats 3] [--methods gradcam,fem]
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from explainers import explain, load_model  # noqa: E402
from explainers.cam import ScoreCAM  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "cat")
DEFAULT_METHODS = "gradcam,gradcam++,xgradcam,layercam,fem,gradient"


def peer(method: str, module, layer):
    """A callable (images, targets) -> maps from the peer library, or None when it has none.
    pytorch-grad-cam's hooks are registered and released around each call, as its `with` form does,
    so that they never fire while the other columns are timed."""
    import pytorch_grad_cam as pgc
    from captum.attr import GuidedBackprop, IntegratedGradients, NoiseTunnel, Saliency
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cams = {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "xgradcam": pgc.XGradCAM,
            "layercam": pgc.LayerCAM, "fem": pgc.FEM, "scorecam": pgc.ScoreCAM}
    if method in cams:
        def run(x, t):
            with cams[method](model=module, target_layers=[layer]) as cam:
                return cam(input_tensor=x, targets=[ClassifierOutputTarget(int(c)) for c in t])
        return run
    captum = {"gradient": lambda x, t: Saliency(module).attribute(x, target=t.tolist()),
              "guided_backprop": lambda x, t: GuidedBackprop(module).attribute(x, target=t.tolist()),
              "integrated_gradients": lambda x, t: IntegratedGradients(module).attribute(
                  x, target=t.tolist(), n_steps=50, internal_batch_size=64, method="riemann_middle"),
              "smoothgrad": lambda x, t: NoiseTunnel(Saliency(module)).attribute(
                  x, target=t.tolist(), nt_type="smoothgrad", nt_samples=25, stdevs=0.15 * float(x.max() - x.min()),
                  abs=False)}
    return captum.get(method)


def best_seconds(functions: dict, images, targets, repeats: int) -> dict[str, float]:
    """Fastest of `repeats` calls of each function, after one warm-up call each; the calls take
    turns, so a busy spell on a shared machine hits every column alike."""
    for function in functions.values():
        function(images, targets)
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            synchronise(images.device)
            started = time.perf_counter()
            function(images, targets)
            synchronise(images.device)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def load(name: str):
    if name == "efficientnet-lite0":
        return load_model(name)
    torch.manual_seed(0)
    return load_model({"arch": "resnet50", "num_classes": 1000, "name": "resnet50 (random)"})


def batch_of(model, size: int) -> torch.Tensor:
    photos = [getattr(data, name)() for name in PHOTOS]
    return model.preprocess([photos[i % len(photos)] for i in range(size)])


def throughput_rows(args, device: torch.device) -> list[tuple]:
    rows = []
    for name in ("efficientnet-lite0", "resnet50"):
        model = load(name).to(device)
        images = batch_of(model, args.batch_size)
        targets = torch.arange(len(images), device=device) * 37 % 1000  # a different class per image
        layer = model.module.get_submodule(model.target_layer)

        def forward(x, t):
            with torch.no_grad():
                return model.module(x)

        for method in args.methods:
            functions = {"forward": forward, "ours": lambda x, t: explain(model, x, t, method)}
            if peer(method, model.module, layer):
                functions["peer"] = peer(method, model.module, layer)
            seconds = best_seconds(functions, images, targets, args.repeats)
            ours, theirs, bare = (len(images) / seconds.get(k, float("nan")) for k in ("ours", "peer", "forward"))
            rows.append((device.type, model.name, method, ours, theirs, bare))
            print_row(rows[-1], flush=True)
    return rows


def peak_rss_gib() -> float:
    """This process's peak resident set (VmHWM, Linux). Unlike ru_maxrss it starts afresh at exec,
    so it does not count the parent's memory that a freshly forked child maps before exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20  # kB -> GiB
    return float("nan")


def scorecam_peak(device_name: str, chunk_size: int, threads: int, queue) -> None:
    """Runs in a fresh process: Score-CAM on one 224 x 224 image with ResNet-50; reports the time,
    the peak RSS before it (libraries and model loaded) and after it, and the CUDA peak."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device_name)
    model = load("resnet50").to(device)
    images = batch_of(model, 1)
    before = peak_rss_gib()
    started = time.perf_counter()
    ScoreCAM(model.module, "layer4", chunk_size=chunk_size)(images, [281])
    synchronise(device)
    cuda = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    queue.put((time.perf_counter() - started, before, peak_rss_gib(), cuda))


def scorecam_row(device: torch.device, chunk_size: int, threads: int) -> tuple:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=scorecam_peak, args=(device.type, chunk_size, threads, queue))
    child.start()
    seconds, before, peak, cuda_peak = queue.get()
    child.join()
    return device.type, chunk_size, seconds, before, peak, cuda_peak


HEADER = (f"{'device':6} {'model':20} {'method':22} {'explainers img/s':>16} {'peer img/s':>11} "
          f"{'speed-up':>8} {'forward img/s':>13} {'time / forward':>14}")


def print_row(row: tuple, flush: bool = False) -> None:
    device, model, method, ours, theirs, forward = row
    print(f"{device:6} {model:20} {method:22} {ours:16.2f} {theirs:11.2f} {ours / theirs:7.2f}x "
          f"{forward:13.2f} {forward / ours:13.2f}x", flush=flush)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu,cuda", help="comma-separated; cuda is skipped when absent")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per cell; the fastest counts")
    parser.add_argument("--methods", default=DEFAULT_METHODS, type=lambda s: [m for m in s.split(",") if m],
                        help='comma-separated; "" runs only the Score-CAM memory check')
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default); 1 is steadiest on a busy machine")
    parser.add_argument("--scorecam-chunk", type=int, default=32, help="0 skips the Score-CAM memory run")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device(d) for d in args.device.split(",") if d != "cuda" or torch.cuda.is_available()]
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} CPU "
          f"threads, batch {args.batch_size}, fastest of {args.repeats} timed calls after one warm-up; peers: "
          "pytorch-grad-cam 1.5.7 (CAM methods), captum (pixel methods)")
    print("time / forward = explainers' time per batch over the bare forward pass's (no_grad), timed in turns; "
          "pytorch-grad-cam's FEM is not the published FEM (see explainers.cam.FEM)\n")
    print(HEADER)
    for device in devices:
        throughput_rows(args, device)
    if args.scorecam_chunk:
        print(f"\nScore-CAM, ResNet-50, one 224 x 224 image, in a fresh process:\n{'device':6} {'chunk':>5} "
              f"{'seconds':>8} {'peak RSS GiB before':>19} {'peak RSS GiB':>12} {'peak CUDA GiB':>13}")
        for device in devices:
            device_type, chunk, seconds, before, peak, cuda = scorecam_row(device, args.scorecam_chunk, args.threads)
            print(f"{device_type:6} {chunk:5d} {seconds:8.1f} {before:19.2f} {peak:12.2f} {cuda:13.2f}")
    print(f"\n(numpy {np.__version__})")


if __name__ == "__main__":
    main()
