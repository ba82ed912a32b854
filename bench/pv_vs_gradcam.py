"""Does PV show something Grad-CAM does not? On a built study's items the model got wrong, the mean
absolute pixel difference and Pearson r between each item's PV stimulus and its Grad-CAM stimulus.

    .venv/bin/python bench/pv_vs_gradcam.py [--study demo] [--sheet /tmp/pv_vs_gradcam.png] [--sheet-items 3]

A decoder that copies the image makes PV's stimulus the Grad-CAM stimulus again (difference near 0,
r near 1); one that redraws what the model saw differs where the model's view differs from the image.
Pearson r is checked against scipy's on every item. `--sheet` saves the image, Grad-CAM and PV
stimuli of the first wrong items side by side (true label and prediction in the file's rows, printed).
Uses the project's settings (EXPLAINLAB_VAR, DATABASE_URL); prints a note and exits when the study
is not built (`make demo` builds the demo).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import pearsonr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pixels(path: str) -> np.ndarray:
    """A stimulus PNG as (H, W, 3) float64 in [0, 1]."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="demo")
    parser.add_argument("--sheet", type=Path, help="save a side-by-side PNG of the first wrong items here")
    parser.add_argument("--sheet-items", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from study.models import Study

    study = Study.objects.filter(slug=args.study).first()
    if study is None or not study.arms.filter(technique="pv").exists():
        print(f"no study {args.study!r} with a PV arm here: build it first (make demo)")
        return
    items = list(study.items.filter(model_correct=False, is_attention_check=False).order_by("position"))
    layer = study.provenance["decoder"].get("layer", "(not recorded)")
    print(f"study {study.slug!r}: decoder layer {layer}, {len(items)} items the model got wrong")
    print(f"{'item':<16} {'true':<12} {'predicted':<12} {'|PV - GC|':>9} {'r':>7} {'r scipy':>8}")
    differences, correlations, rows = [], [], []
    for item in items:
        stimuli = {s.arm.technique: pixels(s.image.path) for s in item.stimuli.select_related("arm")}
        pv, gradcam = stimuli["pv"], stimuli["gradcam"]
        difference, r = float(np.abs(pv - gradcam).mean()), pearson(pv, gradcam)
        reference = float(pearsonr(pv.ravel(), gradcam.ravel()).statistic)
        assert abs(r - reference) < 1e-9, (r, reference)
        differences.append(difference)
        correlations.append(r)
        print(f"{item.name:<16} {', '.join(item.true_labels):<12} {item.model_prediction:<12} "
              f"{difference:>9.4f} {r:>7.4f} {reference:>8.4f}")
        rows.append((pixels(item.image.path), gradcam, pv))
    print(f"{'mean':<42} {np.mean(differences):>9.4f} {np.mean(correlations):>7.4f}   "
          f"(r from {min(correlations):.3f} to {max(correlations):.3f})")
    if args.sheet:
        picked = rows[: args.sheet_items]
        sheet = np.concatenate([np.concatenate(row, axis=1) for row in picked], axis=0)
        Image.fromarray((sheet * 255).round().astype(np.uint8)).save(args.sheet)
        print(f"sheet: columns image | Grad-CAM | PV, rows {[i.name for i in items[: args.sheet_items]]}: "
              f"{args.sheet}")


if __name__ == "__main__":
    main()
