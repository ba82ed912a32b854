"""Gaze import throughput and gaze_report time, printed as one table.

    DEBUG=1 .venv/bin/python bench/gaze_import.py [--synthetic 1000] [--device cpu] [--skip-report]

Rows: import of the MIT1003 sample (../shared/data/mit1003-sample) and of N synthetic 1024x768
8-bit PNG maps with their JPEG stimuli, each beside a bare peer loop (PIL decode, normalise,
np.save: no checks, no previews, no database) that bounds what any importer must spend; then a
full gaze_report over the sample (EfficientNet-Lite0, 4 methods). Runs against a throwaway test
database and a temporary MEDIA_ROOT; nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(os.environ.get("MIT1003_SAMPLE", ROOT.parent / "shared" / "data" / "mit1003-sample"))
METHODS = "gradcam,gradcampp,fem,gradient"


def synthetic_source(folder: Path, n: int, seed: int = 0) -> Path:
    """n distinct 1024x768 stimuli (JPEG) and GFDMs (8-bit PNG: a few Gaussian blobs each)."""
    rng = np.random.default_rng(seed)
    (folder / "stimuli").mkdir(parents=True)
    (folder / "fixation_maps").mkdir()
    xs, ys = np.arange(1024), np.arange(768)
    base = (np.add.outer(ys / 3, xs / 4) % 256).astype(np.uint8)
    for i in range(n):
        stimulus = np.stack([base, np.roll(base, i, axis=1), np.full_like(base, i % 256)], axis=-1)
        Image.fromarray(stimulus).save(folder / "stimuli" / f"syn{i:04d}.jpg", quality=85)
        density = np.zeros((768, 1024))
        for cx, cy, s in zip(rng.uniform(0, 1024, 4), rng.uniform(0, 768, 4), rng.uniform(20, 60, 4)):
            density += np.outer(np.exp(-0.5 * ((ys - cy) / s) ** 2), np.exp(-0.5 * ((xs - cx) / s) ** 2))
        gray = (255 * density / density.max()).astype(np.uint8)
        Image.fromarray(gray).save(folder / "fixation_maps" / f"syn{i:04d}.png", compress_level=1)
    return folder


def peer_loop(maps: list[Path], out: Path) -> tuple[float, float]:
    """Wall and CPU seconds for the bare minimum: decode each map, normalise to sum 1, np.save."""
    out.mkdir()
    start, cpu = time.perf_counter(), time.process_time()
    for path in maps:
        values = np.asarray(Image.open(path), dtype=np.float32)
        np.save(out / f"{path.stem}.npy", values / values.sum(dtype=np.float64))
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=1000, help="number of synthetic maps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings
    from django.test.utils import setup_databases, teardown_databases

    django.setup()
    from analysis.reports import to_markdown
    from study.gaze.importer import import_gaze_path
    from study.gaze.report import gaze_report, parse_methods

    rows = []
    with tempfile.TemporaryDirectory(prefix="gaze-bench-") as scratch:
        scratch = Path(scratch)
        settings.MEDIA_ROOT = scratch / "media"
        databases = setup_databases(verbosity=0, interactive=False)
        try:
            sources = [("MIT1003 sample", SAMPLE)]
            if args.synthetic:
                print(f"writing {args.synthetic} synthetic 1024x768 maps and stimuli...", file=sys.stderr)
                sources.append(
                    (
                        f"{args.synthetic} synthetic 1024x768",
                        synthetic_source(scratch / "syn", args.synthetic),
                    )
                )
            for i, (label, folder) in enumerate(sources):
                start, cpu = time.perf_counter(), time.process_time()
                dataset = import_gaze_path(f"bench{i}", folder, progress=True)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
                n_maps = dataset.stimuli.filter(gaze_map__isnull=False).count()
                maps = sorted((folder / "fixation_maps").iterdir())
                peer, peer_cpu = peer_loop(maps, scratch / f"peer{i}")
                rows.append(
                    (
                        f"import {label}",
                        f"{n_maps} maps",
                        f"{seconds:.1f} s",
                        f"{cpu:.1f} s",
                        f"{n_maps / seconds:.1f} maps/s",
                        f"{len(maps) / peer:.1f} maps/s ({peer_cpu:.1f} s CPU)",
                    )
                )
            if not args.skip_report:
                from study.models import GazeDataset

                dataset = GazeDataset.objects.get(name="bench0")
                cpu = time.process_time()
                report = gaze_report(
                    dataset,
                    "efficientnet-lite0",
                    parse_methods(METHODS),
                    scratch / "report",
                    device=args.device,
                    progress=True,
                )
                n = report.scores["image"].nunique()
                rows.append(
                    (
                        f"gaze_report sample, EfficientNet-Lite0, 4 methods, {args.device}",
                        f"{n} stimuli",
                        f"{report.seconds:.1f} s",
                        f"{time.process_time() - cpu:.1f} s",
                        f"{n / report.seconds:.2f} stimuli/s",
                        "n/a",
                    )
                )
        finally:
            teardown_databases(databases, verbosity=0)

    header = (
        "task",
        "size",
        "wall",
        "CPU (all threads)",
        "ExplainLab",
        "peer: decode+normalise+np.save, 1 thread",
    )
    widths = [max(len(str(r[k])) for r in [header, *rows]) for k in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths)))
    print(
        f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores"
    )
    if not args.skip_report:
        print()
        print(to_markdown(report.table))


if __name__ == "__main__":
    main()
