"""Throughput of the explainers added for issue 14, beside their peers in the same run, on the CPU.

Rows: LRP beside zennit (its rule code, called directly) and captum's LRP; DeepLIFT, DeconvNet,
Gradient x Input, Guided Grad-CAM, occlusion and LIME beside captum; RISE beside the bare masked
forward passes it needs (same masks, masking done beforehand, target within 1.2x); CAM,
Recipro-CAM, Smooth Grad-CAM++, SmoothGrad² and VarGrad alone (no peer implements them).
Models: VGG-11 (random seeded weights; captum's LRP and DeepLift need plain sequential ReLU nets)
for the propagation rows, ResNet-18 (random) for the perturbation and CAM rows, ResNet-50 (random)
for RISE. Inputs: scikit-image photos at 224 x 224. Each cell is the fastest of --repeats calls
after one warm-up; the columns of a row take turns.

Run: .venv/bin/python bench/methods.py [--images 4] [--perturbation-images 1] [--rise-masks 8000]
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from explainers import explain  # noqa: E402
from explainers.lrp import composite  # noqa: E402
from explainers.perturbation import rise_masks, segments  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "cat")
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def photos(count: int, size: int = 224) -> torch.Tensor:
    """(count, 3, size, size) ImageNet-normalised photos, cycled."""
    from PIL import Image

    arrays = []
    for i in range(count):
        image = getattr(data, PHOTOS[i % len(PHOTOS)])()
        arrays.append(np.asarray(Image.fromarray(image).convert("RGB").resize((size, size))))
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    return (pixels - MEAN) / STD


def network(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return getattr(torchvision.models, arch)(weights=None).eval()


def out_of_place(module: torch.nn.Module) -> torch.nn.Module:
    copied = copy.deepcopy(module)
    for layer in copied.modules():
        if isinstance(layer, torch.nn.ReLU):
            layer.inplace = False
    return copied


def best_seconds(functions: dict, repeats: int, warm_up: bool = True) -> dict[str, float]:
    """Fastest of `repeats` calls of each function after one warm-up each (none for the perturbation
    rows, where one call is already hundreds of forward passes); the calls take turns."""
    for function in functions.values() if warm_up else ():
        function()
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def zennit_lrp(module, images, targets, rule):
    from zennit.attribution import Gradient

    with Gradient(model=module, composite=composite(rule, 1e-6, 0.25, module)) as attributor:
        return attributor(images, torch.eye(1000)[targets])[1]


def captum_lrp(module, images, targets, rule):
    from captum.attr import LRP
    from captum.attr._utils.lrp_rules import Alpha1_Beta0_Rule, EpsilonRule

    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.rule = Alpha1_Beta0_Rule() if rule == "composite" else EpsilonRule(1e-6)
        elif isinstance(layer, torch.nn.Linear):
            layer.rule = EpsilonRule(1e-6)
    return LRP(module).attribute(images, target=targets.tolist())


def rows(args) -> list[tuple]:
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import DeepLift, Deconvolution, GuidedGradCam, InputXGradient, Lime, Occlusion

    vgg, resnet18 = network("vgg11"), network("resnet18")
    vgg_peer, resnet_peer = out_of_place(vgg), out_of_place(resnet18)
    images = photos(args.images)
    few = photos(args.perturbation_images)
    targets, few_targets = torch.arange(len(images)) * 37 % 1000, torch.arange(len(few)) * 37 % 1000
    black = ((0 - MEAN) / STD).expand(1, 3, 224, 224)
    table = []

    def measure(method, model_name, batch, ours, peers, warm_up=True):
        seconds = best_seconds({"ours": ours, **peers}, args.repeats, warm_up)
        for peer_name in peers or {"—": None}:
            theirs = len(batch) / seconds[peer_name] if peer_name in seconds else float("nan")
            table.append((method, model_name, len(batch), len(batch) / seconds["ours"], peer_name, theirs))
            print_row(table[-1])

    for rule in ("epsilon", "composite"):
        measure(f"lrp ({rule})", "vgg11", images, lambda r=rule: explain(vgg, images, targets, "lrp", rule=r),
                {"zennit": lambda r=rule: zennit_lrp(vgg, images, targets, r),
                 "captum LRP": lambda r=rule: captum_lrp(vgg_peer, images, targets, r)})
    measure("deeplift", "vgg11", images, lambda: explain(vgg, images, targets, "deeplift", baseline=black),
            {"captum DeepLift": lambda: DeepLift(vgg_peer).attribute(
                images, baselines=black.expand_as(images), target=targets.tolist())})
    measure("deconvnet", "vgg11", images, lambda: explain(vgg, images, targets, "deconvnet"),
            {"captum Deconvolution": lambda: Deconvolution(vgg_peer).attribute(images,
                                                                                target=targets.tolist())})
    measure("gradient_x_input", "vgg11", images, lambda: explain(vgg, images, targets, "gradient_x_input"),
            {"captum InputXGradient": lambda: InputXGradient(vgg_peer).attribute(images,
                                                                                  target=targets.tolist())})
    measure("guided_gradcam", "vgg11", images,
            lambda: explain(vgg, images, targets, "guided_gradcam", target_layer="features.19"),
            {"captum GuidedGradCam": lambda: GuidedGradCam(vgg_peer, vgg_peer.features[19]).attribute(
                images, target=targets.tolist(), interpolate_mode="bilinear")})
    measure("occlusion (32, 16)", "resnet18", few,
            lambda: explain(resnet18, few, few_targets, "occlusion", window=32, stride=16, baseline=black),
            {"captum Occlusion": lambda: Occlusion(resnet_peer).attribute(
                few, sliding_window_shapes=(3, 32, 32), strides=(3, 16, 16), baselines=black,
                target=few_targets.tolist(), perturbations_per_eval=64)}, warm_up=False)
    grid = segments(few[0], "grid", 16)[None, None].expand(1, 3, 224, 224)

    def captum_lime():
        peer = Lime(lambda x: resnet_peer(x).softmax(dim=1), interpretable_model=SkLearnRidge(alpha=1.0))
        return [peer.attribute(few[i:i + 1], target=int(few_targets[i]), baselines=black, feature_mask=grid,
                               n_samples=512, perturbations_per_eval=64) for i in range(len(few))]

    measure("lime (512, grid 16)", "resnet18", few,
            lambda: explain(resnet18, few, few_targets, "lime", baseline=black), {"captum Lime": captum_lime},
            warm_up=False)
    measure("cam", "resnet18", images,
            lambda: explain(resnet18, images, targets, "cam", target_layer="layer4"), {})
    measure("reciprocam", "resnet18", images,
            lambda: explain(resnet18, images, targets, "reciprocam", target_layer="layer4"), {})
    measure("smooth_gradcam++ (25)", "resnet18", images,
            lambda: explain(resnet18, images, targets, "smooth_gradcam++", target_layer="layer4"), {},
            warm_up=False)
    for wrapper in ("smoothgrad_squared", "vargrad"):
        measure(f"{wrapper} (25)", "resnet18", images,
                lambda w=wrapper: explain(resnet18, images, targets, w), {}, warm_up=False)
    return table


def rise_row(args) -> tuple[float, float]:
    """RISE with --rise-masks masks on ResNet-50 for one photo, and as many masked forward passes alone
    (64 a batch, as RISE's internal batches)."""
    resnet50 = network("resnet50")
    image, target = photos(1), torch.tensor([281])
    black = ((0 - MEAN) / STD).expand(1, 3, 224, 224)
    masks = rise_masks(64, (224, 224), 7, 0.5, torch.Generator().manual_seed(0))
    masked = black + masks[:, None] * (image - black)  # one batch of 64, reused: the cost is the same

    def forwards():
        with torch.no_grad():
            for start in range(0, args.rise_masks, 64):
                resnet50(masked[:min(64, args.rise_masks - start)]).softmax(dim=1)

    seconds = best_seconds({"rise": lambda: explain(resnet50, image, target, "rise", masks=args.rise_masks,
                                                    baseline=black),
                            "forwards": forwards}, repeats=1, warm_up=False)
    return seconds["rise"], seconds["forwards"]


def print_row(row: tuple) -> None:
    method, model, count, ours, peer, theirs = row
    against = f"{theirs:12.3f} {ours / theirs:8.2f}x" if theirs == theirs else f"{'—':>12} {'—':>9}"
    print(f"{method:24} {model:9} {count:6d} {ours:13.3f} {peer:22} {against}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4, help="photos per batch for the gradient rows")
    parser.add_argument("--perturbation-images", type=int, default=1, help="photos for occlusion and LIME")
    parser.add_argument("--rise-masks", type=int, default=8000, help="0 skips the RISE row")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, 224 x 224, fastest of "
          f"{args.repeats} timed call(s); load average before: {os.getloadavg()}")
    print(f"{'method':24} {'model':9} {'images':>6} {'ours img/s':>13} {'peer':22} {'peer img/s':>12} "
          f"{'ours/peer':>9}")
    rows(args)
    if args.rise_masks:
        rise, forwards = rise_row(args)
        print(f"\nRISE, ResNet-50, one photo, {args.rise_masks} masks: {rise:.1f} s; the same masked forward "
              f"passes alone: {forwards:.1f} s; ratio {rise / forwards:.2f} (target <= 1.2)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
