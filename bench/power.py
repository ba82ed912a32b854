"""Power by simulation: analysis.power vs a one-study-at-a-time loop over scipy's test, and vs
statsmodels' closed form where one exists (one question per participant: two proportions).

Run: .venv/bin/python bench/power.py
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis import power  # noqa: E402


def loop_power(
    first: power.Arm, second: power.Arm, n: int, questions: int, n_simulations: int, seed: int
) -> float:
    """The same simulation written plainly: one study and participant at a time, scipy's test."""
    rng = np.random.default_rng(seed)

    def accuracy(arm: power.Arm) -> float:
        k = arm.accuracy * (1 - arm.accuracy) / arm.skill_sd**2 - 1
        return rng.binomial(questions, rng.beta(arm.accuracy * k, (1 - arm.accuracy) * k)) / questions

    rejected = 0
    for _ in range(n_simulations):
        a = [accuracy(first) for _ in range(n)]
        b = [accuracy(second) for _ in range(n)]
        rejected += stats.mannwhitneyu(a, b, use_continuity=False, method="asymptotic").pvalue < 0.05
    return rejected / n_simulations


def main() -> None:
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (a shared machine: times are noisy)")
    first, second = power.Arm(0.40, 0.10), power.Arm(0.50, 0.10)
    print("\nPower at 50 per arm, 14 questions, accuracies 0.40 vs 0.50 (SD 0.10), two-sided, alpha 0.05")
    print(f"{'':<36}{'simulations':>12}{'seconds':>9}{'power':>8}{'MC SE':>8}")
    start = time.perf_counter()
    ours = power.simulated_power(first, second, 50, 14, n_simulations=2000)
    ours_s = time.perf_counter() - start
    print(f"{'analysis.power.simulated_power':<36}{2000:>12}{ours_s:>9.3f}{ours.power:>8.3f}{ours.se:>8.3f}")
    start = time.perf_counter()
    looped = loop_power(first, second, 50, 14, 2000, seed=1)
    loop_s = time.perf_counter() - start
    loop_se = np.sqrt(looped * (1 - looped) / 2000)
    row = f"{2000:>12}{loop_s:>9.3f}{looped:>8.3f}{loop_se:>8.3f}"
    print(f"{'loop over scipy.stats.mannwhitneyu':<36}{row}")
    print(f"speed-up {loop_s / ours_s:.0f}x")

    start = time.perf_counter()
    needed = power.sample_size(first, second, 14, power=0.8, n_simulations=2000)
    print(f"\nsample_size for 80% power: {needed.n_per_arm} per arm (power {needed.power:.3f}), "
          f"{time.perf_counter() - start:.2f} s")

    print("\nOne question per participant: simulated vs statsmodels NormalIndPower (Cohen's h)")
    print(f"{'p1':>6}{'p2':>6}{'n':>6}{'simulated':>11}{'closed form':>13}")
    for p1, p2, n in ((0.5, 0.3, 60), (0.35, 0.6, 40), (0.7, 0.5, 100)):
        simulated = power.simulated_power(power.Arm(p1), power.Arm(p2), n, 1, n_simulations=20_000).power
        closed = NormalIndPower().power(proportion_effectsize(p1, p2), nobs1=n, alpha=0.05, ratio=1)
        print(f"{p1:>6}{p2:>6}{n:>6}{simulated:>11.3f}{closed:>13.3f}")


if __name__ == "__main__":
    main()
