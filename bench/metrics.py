"""Map-vs-gaze metrics and GFDMs at 1024x768: analysis vs straightforward references, one run.

References: each metric written per map in float64 as the MIT MATLAB code does it (scipy's
spearmanr, skimage's structural_similarity; sAUC with the same random draws; IG over the centre
bias as MIT's InfoGain; EMD as a plain POT call on block means, and on a small grid against a
linear program solved by scipy's linprog); GFDMs as scipy.ndimage.gaussian_filter of the
fixation histogram. pysaliency 0.2.22 is not used: it builds from source and fails to import
(`pkg_resources` is gone from setuptools). Run: .venv/bin/python bench/metrics.py
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage, stats
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis import gfdm, saliency  # noqa: E402

HEIGHT, WIDTH = 768, 1024
EPS = np.finfo(np.float64).eps


def reference_pcc(smap, gaze, fixated):
    return np.corrcoef(smap.ravel(), gaze.ravel())[0, 1]


def _sim_density(m):
    m = (m - m.min()) / (m.max() - m.min())
    return m / m.sum()


def reference_sim(smap, gaze, fixated):
    return np.minimum(_sim_density(smap), _sim_density(gaze)).sum()


def reference_kld(smap, gaze, fixated):
    p, q = smap / smap.sum(), gaze / gaze.sum()
    return np.sum(q * np.log(EPS + q / (p + EPS)))


def reference_nss(smap, gaze, fixated):
    z = (smap - smap.mean()) / smap.std(ddof=1)
    return z[fixated].mean()


def reference_auc_judd(smap, gaze, fixated):
    values = smap.ravel()
    thresholds = np.sort(smap[fixated])[::-1]
    n_fix, n_pix = thresholds.size, values.size
    tp, fp = [0.0], [0.0]
    ordered = np.sort(values)
    for i, threshold in enumerate(thresholds, start=1):
        above = n_pix - np.searchsorted(ordered, threshold)
        tp.append(i / n_fix)
        fp.append((above - i) / (n_pix - n_fix))
    return np.trapezoid(tp + [1.0], fp + [1.0])


def reference_spearman(smap, gaze, fixated):
    return stats.spearmanr(smap.ravel(), gaze.ravel()).statistic


def reference_ssim(smap, gaze, fixated):
    scale = [(m - m.min()) / (m.max() - m.min()) for m in (smap, gaze)]
    return structural_similarity(*scale, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)


def reference_sauc(smap, gaze, fixated, n_splits=100, step=0.1, seed=0):
    values = ((smap - smap.min()) / (smap.max() - smap.min())).ravel()
    positives, locations = values[np.flatnonzero(fixated)], np.flatnonzero(OTHER)
    count = min(positives.size, locations.size)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_splits):
        negatives = values[rng.permutation(locations)[:count]]
        tp, fp = [0.0], [0.0]
        for k in range(int(np.floor(max(positives.max(), negatives.max()) / step + 1e-9)), -1, -1):
            tp.append(np.mean(positives >= k / 10))
            fp.append(np.mean(negatives >= k / 10))
        aucs.append(np.trapezoid(tp + [1.0], fp + [1.0]))
    return np.mean(aucs)


def reference_ig(smap, gaze, fixated):
    p = (smap - smap.min()) / (smap.max() - smap.min())
    b = (BIAS - BIAS.min()) / (BIAS.max() - BIAS.min())
    p, b = p / p.sum(), b / b.sum()
    return np.mean(np.log2(EPS + p[fixated]) - np.log2(EPS + b[fixated]))


def reference_emd(smap, gaze, fixated):
    import ot
    from scipy.spatial.distance import cdist
    from skimage.exposure import match_histograms

    small = [m.reshape(HEIGHT // 32, 32, WIDTH // 32, 32).mean(axis=(1, 3)) for m in (gaze, smap)]
    target, matched = small[0] / small[0].sum(), np.clip(match_histograms(small[1], small[0]), 0, None)
    grid = np.argwhere(np.ones(target.shape)).astype(float)
    return ot.emd2(target.ravel(), (matched / matched.sum()).ravel(), cdist(grid, grid), numItermax=10_000_000)


REFERENCES = {
    "pcc": reference_pcc, "sim": reference_sim, "kld": reference_kld, "nss": reference_nss,
    "auc_judd": reference_auc_judd, "spearman": reference_spearman, "ssim": reference_ssim,
    "sauc": reference_sauc, "ig": reference_ig, "emd": reference_emd,
}
BIAS = saliency.centre_bias((HEIGHT, WIDTH))
OTHER = gfdm.fixation_map(np.random.default_rng(9).uniform([0, 0], [WIDTH - 1, HEIGHT - 1], (600, 2)),
                          (HEIGHT, WIDTH))


def linprog_emd(p: np.ndarray, q: np.ndarray) -> float:
    """The transport problem as a plain linear program (scipy's HiGHS), Euclidean ground distance."""
    from scipy.optimize import linprog
    from scipy.spatial.distance import cdist

    grid = np.argwhere(np.ones(p.shape)).astype(float)
    n = p.size
    equalities = np.vstack([np.kron(np.eye(n), np.ones(n)), np.kron(np.ones(n), np.eye(n))])
    result = linprog(cdist(grid, grid).ravel(), A_eq=equalities, b_eq=np.r_[p.ravel(), q.ravel()], method="highs")
    return result.fun


def emd_small() -> None:
    """EMD transport on a 6x8 grid: analysis (POT) vs scipy's linprog, 20 random pairs."""
    rng = np.random.default_rng(3)
    pairs = [tuple(m / m.sum() for m in rng.random((2, 6, 8)) ** 3) for _ in range(20)]
    ours_s = timed(lambda: [saliency.transport_cost(p, q) for p, q in pairs])
    start = time.perf_counter()
    expected = [linprog_emd(p, q) for p, q in pairs]
    ref_s = time.perf_counter() - start
    diff = max(abs(saliency.transport_cost(p, q) - e) for (p, q), e in zip(pairs, expected))
    print(f"{'emd 6x8 vs linprog':<16}{20 / ours_s:>16.1f}{20 / ref_s:>18.1f}{ref_s / ours_s:>9.1f}x{diff:>12.1e}")


def random_points(rng, n):
    return np.column_stack([rng.uniform(0, WIDTH - 1, n), rng.uniform(0, HEIGHT - 1, n)])


def make_inputs(n_maps: int, seed: int = 0):
    """`n_maps` smooth saliency-like maps (float32), one gaze density and its fixation map."""
    rng = np.random.default_rng(seed)
    maps = np.stack([gfdm.density_from_fixations(random_points(rng, 40), (HEIGHT, WIDTH), 40.0)
                     for _ in range(n_maps)])
    points = random_points(rng, 300)
    return maps, gfdm.density_from_fixations(points, (HEIGHT, WIDTH), 30.0), gfdm.fixation_map(points, (HEIGHT, WIDTH))


def timed(function, repeats: int = 1) -> float:
    """Wall-clock seconds per call."""
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def cpu_timed(function, repeats: int = 1) -> tuple[float, float]:
    """Wall-clock and CPU (all threads) seconds per call: on a shared machine CPU time is steadier."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats


def main() -> None:
    maps, gaze, fixated = make_inputs(40)
    print(f"1024x768 maps, one GFDM; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"{'metric':<16}{'analysis maps/s':>16}{'reference maps/s':>18}{'speed-up':>10}{'max |diff|':>12}")
    for name, reference in REFERENCES.items():
        n = 40 if name in ("pcc", "sim", "kld", "nss") else 8
        extra = {"other_fixations": OTHER, "baseline": BIAS}
        ours = saliency.score_maps(maps[:n], gaze, fixated, metrics=(name,), **extra)[name].to_numpy()
        ours_s = timed(lambda: saliency.score_maps(maps[:n], gaze, fixated, metrics=(name,), **extra))
        ref_n = min(n, 8)
        maps64, gaze64 = maps[:ref_n].astype(np.float64), gaze.astype(np.float64)
        start = time.perf_counter()
        expected = np.array([reference(m, gaze64, fixated) for m in maps64])
        ref_s = time.perf_counter() - start
        diff = np.max(np.abs(ours[:ref_n] - expected))
        print(f"{name:<16}{n / ours_s:>16.1f}{ref_n / ref_s:>18.1f}{(n / ours_s) / (ref_n / ref_s):>9.1f}x{diff:>12.1e}")

    emd_small()

    repeats = 25  # 25 x 40 = 1,000 map pairs, 40 distinct maps in memory at a time
    wall, cpu = cpu_timed(lambda: saliency.score_maps(maps, gaze, metrics=("pcc", "sim", "kld")), repeats)
    maps64, gaze64 = maps[:8].astype(np.float64), gaze.astype(np.float64)
    ref_wall, ref_cpu = cpu_timed(lambda: [(reference_pcc(m, gaze64, None), reference_sim(m, gaze64, None),
                                            reference_kld(m, gaze64, None)) for m in maps64])
    print(f"\n{'PCC+SIM+KLD, 1,000 map pairs':<34}{'wall s':>8}{'CPU s':>8}   (target < 5 s)")
    print(f"{'analysis.saliency.score_maps':<34}{wall * repeats:>8.2f}{cpu * repeats:>8.2f}")
    print(f"{'reference loop (from 8 maps)':<34}{ref_wall / 8 * 1000:>8.2f}{ref_cpu / 8 * 1000:>8.2f}")

    rng = np.random.default_rng(1)
    points = random_points(rng, 500)
    sigma = gfdm.sigma_from_ppd(35.0)

    def reference_gfdm():
        counts = np.zeros((HEIGHT, WIDTH))
        np.add.at(counts, (np.rint(points[:, 1]).astype(int), np.rint(points[:, 0]).astype(int)), 1.0)
        blurred = ndimage.gaussian_filter(counts, sigma, mode="constant")
        return blurred / blurred.sum()

    ours_wall, ours_cpu = cpu_timed(lambda: gfdm.density_from_fixations(points, (HEIGHT, WIDTH), sigma), 20)
    ref_wall, ref_cpu = cpu_timed(reference_gfdm, 5)
    diff = np.abs(gfdm.density_from_fixations(points, (HEIGHT, WIDTH), sigma) - reference_gfdm()).max()
    print(f"\n{'GFDM, 500 fixations, sigma 35 px':<34}{'wall ms':>8}{'CPU ms':>8}{'GFDMs/s':>10}   (target < 20 ms)")
    print(f"{'analysis.gfdm':<34}{ours_wall * 1e3:>8.1f}{ours_cpu * 1e3:>8.1f}{1 / ours_wall:>10.1f}")
    print(f"{'scipy gaussian_filter (4 sigma)':<34}{ref_wall * 1e3:>8.1f}{ref_cpu * 1e3:>8.1f}{1 / ref_wall:>10.1f}"
          f"   max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
