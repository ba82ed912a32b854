"""PV decoder training: images/s and peak memory, ResNet-50 layer4 -> 224x224, beside a ResNet-50 step.

    .venv/bin/python bench/pv_train.py [--cpu-batch 4] [--cpu-steps 2] [--gpu-batch 64] [--gpu-steps 20]

Rows: one `explainers.pv.train_step` (decoder forward, the PV loss with its DSIM term through the
frozen encoder, Adam step) on a randomly initialised ResNet-50 (no download), and the peer: an
ordinary torchvision ResNet-50 classifier training step (cross-entropy, Adam) at the same batch size,
a workload whose speed on any machine is well known. Each (row, device) runs in a fresh process, so
the CPU peak is that process's maximum resident set (torch and the model included); the GPU peak is
torch.cuda.max_memory_allocated. bfloat16 autocast on the GPU for both, as in training. The paper's
target is its 8,000-image training set in one epoch in under a minute on an H100 (>= 133 images/s).
"""

import argparse
import multiprocessing
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_IMAGES, TARGET_SECONDS = 8000, 60


def _pv_step(device, batch):
    import torch

    from explainers import load_model
    from explainers.pv import Decoder, DecoderConfig, PVLoss, encoder_of
    from explainers.pv.train import train_step

    model = load_model({"arch": "resnet50"}).to(device)
    encoder = encoder_of(model)
    decoder = Decoder(DecoderConfig((2048, 7, 7), (224, 224))).to(device)
    criterion, optimizer = PVLoss(encoder), torch.optim.Adam(decoder.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, 224, 224, device=device)
    model.module.eval().requires_grad_(False)  # frozen, as train_decoder does with encoder.frozen()
    return lambda: train_step(decoder, criterion, optimizer, x).total


def _classifier_step(device, batch):
    import torch
    import torchvision
    from torch.nn import functional as F

    model = torchvision.models.resnet50(weights=None).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step():
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


WORKLOADS = {
    "PV decoder training step (ours)": _pv_step,
    "ResNet-50 classifier training step (peer)": _classifier_step,
}


def _measure(name, device, batch, steps, warmup, queue):
    import torch

    step = WORKLOADS[name](device, batch)
    for _ in range(warmup):
        step().item()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss.item()  # waits for the device
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated()
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    queue.put((batch * steps / seconds, peak / 2**20))


def measure(name, device, batch, steps, warmup):
    """(images/s, peak MiB) of `steps` steps after `warmup` ones, in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_measure, args=(name, device, batch, steps, warmup, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main():
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-batch", type=int, default=4)
    parser.add_argument("--cpu-steps", type=int, default=2)
    parser.add_argument("--gpu-batch", type=int, default=64)
    parser.add_argument("--gpu-steps", type=int, default=20)
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"GPU: {torch.cuda.get_device_name() if gpu else 'none'}; "
        f"batch {args.cpu_batch} on CPU, {args.gpu_batch} on GPU; 224x224 inputs"
    )
    header = f"{'workload':<42} {'CPU img/s':>9} {'CPU peak MiB':>12} {'GPU img/s':>9} {'GPU peak MiB':>12}"
    print(header)
    print("-" * len(header))
    rates = {}
    for name in WORKLOADS:
        cpu_rate, cpu_peak = measure(name, "cpu", args.cpu_batch, args.cpu_steps, warmup=1)
        gpu_rate, gpu_peak = (
            measure(name, "cuda", args.gpu_batch, args.gpu_steps, warmup=3) if gpu else (None, None)
        )
        rates[name] = (cpu_rate, gpu_rate)
        gpu_cells = f"{gpu_rate:>9.1f} {gpu_peak:>12.0f}" if gpu else f"{'n/a':>9} {'n/a':>12}"
        print(f"{name:<42} {cpu_rate:>9.2f} {cpu_peak:>12.0f} {gpu_cells}", flush=True)
    cpu_rate, gpu_rate = rates["PV decoder training step (ours)"]
    print(
        f"\none epoch of the paper's {TARGET_IMAGES} images: {TARGET_IMAGES / cpu_rate / 60:.0f} min on this CPU; "
        + (f"{TARGET_IMAGES / gpu_rate:.0f} s on this GPU" if gpu else "GPU n/a")
        + f" (target: under {TARGET_SECONDS} s on an H100, i.e. >= {TARGET_IMAGES / TARGET_SECONDS:.0f} images/s)"
    )


if __name__ == "__main__":
    main()
