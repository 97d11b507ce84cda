"""The report's bootstrap intervals: rliable's per-resample loop against cnfrl's, which draws the same resamples
at once in NumPy (cnfrl.experiments.intervals); prints a table with the ratio and the largest difference.
Usage: python benchmarks/intervals_speed.py [--algos 5] [--seeds 3] [--datasets 9]"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rliable import library

from cnfrl.experiments.intervals import AGGREGATES, BOOTSTRAP_REPS, CONFIDENCE, aggregates, interval_estimates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--datasets", type=int, default=9)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    scores = {f"algo{i}": rng.normal(50, 10, (args.seeds, args.datasets)) for i in range(args.algos)}
    np.random.seed(0)
    start = time.perf_counter()
    points, intervals = library.get_interval_estimates(
        scores, aggregates, reps=BOOTSTRAP_REPS, confidence_interval_size=CONFIDENCE
    )
    rliable_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ours = interval_estimates(scores)
    ours_seconds = time.perf_counter() - start
    difference = max(
        abs(ours[algo][name][j] - value)
        for algo in scores
        for i, name in enumerate(AGGREGATES)
        for j, value in enumerate((points[algo][i], intervals[algo][0][i], intervals[algo][1][i]))
    )
    print(f"{args.algos} algorithms x ({args.seeds} seeds x {args.datasets} datasets), {BOOTSTRAP_REPS:,} resamples")
    print("| implementation | seconds | ratio |\n|---|---:|---:|")
    print(f"| rliable (a call per resample) | {rliable_seconds:.2f} | 1.0 |")
    print(f"| cnfrl.experiments.intervals | {ours_seconds:.2f} | {rliable_seconds / ours_seconds:.0f}x faster |")
    print(f"largest difference in any point or bound: {difference:.1e}")


if __name__ == "__main__":
    main()
