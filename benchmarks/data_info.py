"""Benchmark: `cnfrl data info` on a 1M-transition D4RL HDF5 file (target: under 10 s end to end).

Writes hopper-sized data (obs 11, action 3, 1000-step episodes with time-outs, and a terminal every 37th
episode) in both D4RL layouts, with and without next_observations, and times the whole command
(interpreter start-up and imports included) plus the in-process load. Prints a Markdown table.
Usage: python benchmarks/data_info.py [--transitions 1000000] [--out benchmarks/results/data_info.md]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from tables import write_table

TARGET_SECONDS = 10.0


def write_file(path: Path, n: int, with_next: bool) -> None:
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(n, 11)).astype(np.float32)
    timeouts = (np.arange(n) % 1000) == 999
    terminals = np.zeros(n, bool)
    terminals[np.arange(500, n, 37_000)] = True
    with h5py.File(path, "w") as handle:
        handle["observations"] = observations
        handle["actions"] = rng.uniform(-1, 1, size=(n, 3)).astype(np.float32)
        handle["rewards"] = rng.normal(size=n).astype(np.float32)
        handle["terminals"] = terminals
        handle["timeouts"] = timeouts
        if with_next:
            handle["next_observations"] = np.roll(observations, -1, axis=0)


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from cnfrl.data import load_dataset

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for with_next in (False, True):
            path = Path(folder) / f"hopper-{'full' if with_next else 'plain'}.hdf5"
            write_file(path, args.transitions, with_next)
            command = [sys.executable, "-c", "from cnfrl.cli import main; main()", "data", "info", str(path)]
            cli = timed(lambda command=command: subprocess.run(command, check=True, capture_output=True))
            load = timed(lambda path=path: load_dataset(path).fingerprint)
            layout = "with next_observations" if with_next else "next_observations derived"
            rows.append((f"`cnfrl data info` ({layout})", cli))
            rows.append((f"load_dataset + fingerprint in-process ({layout})", load))
    write_table(
        f"cnfrl data info on {args.transitions:,} transitions",
        f"python benchmarks/data_info.py --transitions {args.transitions}",
        ["measure", "seconds", "target (s)", "target / measured"],
        [[name, f"{seconds:.2f}", f"{TARGET_SECONDS:.0f}", f"{TARGET_SECONDS / seconds:.1f}x"] for name, seconds in rows],
        args.out,
    )


if __name__ == "__main__":
    main()
