"""A grid's wall time on Ray (local, N one-CPU workers) against the local runner on this machine, and Ray's
overhead per task.

    python benchmarks/ray_overhead.py --out benchmarks/results/ray_overhead_cpu.md

Both runners train the same grid from scratch (each with its own empty model cache, so both pre-train their
flows) on a hopper-random dataset generated here; the runs they write are compared file for file. The local
runner trains one group after another with multi-threaded XLA; Ray runs one group per worker at once, each on
one thread. Ray's overheads: starting it, an empty task's round trip (first and warm), a new worker importing
cnfrl, putting the dataset in the object store, and the grid's shortfall from perfect scaling per task (which
also holds what one thread per worker and a compile per worker cost). Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tables import write_table

from cnfrl.collect.recipes import collect_dataset
from cnfrl.experiments.grid import Grid, run_grid
from cnfrl.experiments.pipeline import load_run_data
from cnfrl.experiments.ray_grid import RayCluster, runtime_env
from cnfrl.training.checkpoints import CHECKPOINT
from cnfrl.utils.hardware import describe_hardware


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["cnf", "cnf-steady", "plas", "bc"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=20_000, help="size of the generated hopper-random dataset")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="CPUs of the local Ray")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import ray

    root = Path(tempfile.mkdtemp(prefix="cnfrl-ray-bench-"))
    os.environ["MINARI_DATASETS_PATH"] = str(root / "minari")
    collect_dataset("hopper-random", steps=args.steps, seed=0, root=root / "minari", show_progress=False)
    settings = (f"loop.updates={args.updates}", "loop.eval_every=1000", "pretrain.epochs=3")
    grid = Grid(algos=tuple(args.algos), datasets=("hopper-random",), seeds=args.seeds, overrides=settings, out=root / "local")
    groups = len(args.algos)

    os.environ["CNFRL_CACHE"] = str(root / "cache-local")
    start = time.perf_counter()
    run_grid(grid, show_progress=False)
    local_s = time.perf_counter() - start

    os.environ["CNFRL_CACHE"] = str(root / "cache-ray")
    start = time.perf_counter()
    ray.init(num_cpus=args.workers, log_to_driver=False)
    ray_start_s = time.perf_counter() - start
    try:
        overheads = task_overheads(ray)
        data = load_run_data(grid.groups()[0][0][0], show_progress=False)
        start = time.perf_counter()
        ray.put(data)
        put_s = time.perf_counter() - start
        data_mb = sum(a.nbytes for a in vars(data.transitions).values() if isinstance(a, np.ndarray)) / 1e6
        on_ray = dataclasses.replace(grid, out=root / "ray")
        start = time.perf_counter()
        run_grid(on_ray, show_progress=False, cluster=RayCluster())
        grid_ray_s = time.perf_counter() - start
    finally:
        ray.shutdown()
    same = all(
        (run / CHECKPOINT).read_bytes() == (root / "ray" / "runs" / run.name / CHECKPOINT).read_bytes()
        for run in (root / "local" / "runs").iterdir()
    )

    command = (
        f"python benchmarks/ray_overhead.py --algos {' '.join(args.algos)} --seeds {args.seeds} --updates {args.updates} "
        f"--steps {args.steps} --workers {args.workers}"
    )
    title = (
        f"Grid wall time on Ray and on the local runner: {', '.join(args.algos)} x hopper-random ({args.steps // 1000}k "
        f"steps) x {args.seeds} seeds, cpu-quick, {args.updates} updates, flow 3 epochs; {describe_hardware()}"
    )
    rows = [
        ["local runner (one group after another)", f"{local_s:.1f}", "1.00"],
        [f"Ray, {args.workers} one-CPU workers (a group per task)", f"{grid_ray_s:.1f}", f"{local_s / grid_ray_s:.2f}"],
        ["the same plus starting Ray", f"{grid_ray_s + ray_start_s:.1f}", f"{local_s / (grid_ray_s + ray_start_s):.2f}"],
    ]
    shortfall = (grid_ray_s - local_s / args.workers) / groups
    notes = "\n".join(
        [
            "Ray's overhead:",
            "",
            "| what | ms |",
            "|---|---:|",
            f"| start a local Ray | {ray_start_s * 1000:.0f} |",
            f"| first empty task (starts a worker) | {overheads['first'] * 1000:.0f} |",
            f"| empty task round trip on a warm worker (median of 200) | {overheads['warm'] * 1000:.2f} |",
            f"| first task on a new worker with the grid's environment, importing cnfrl | {overheads['import'] * 1000:.0f} |",
            f"| put the dataset ({data_mb:.0f} MB) in the object store | {put_s * 1000:.0f} |",
            f"| per task, the grid's shortfall from {args.workers}x: (Ray - local / {args.workers}) / {groups} tasks | "
            f"{shortfall * 1000:.0f} |",
            "",
            f"Runs identical to the local runner's (checkpoint bytes): {'yes' if same else 'NO'}.",
        ]
    )
    write_table(title, command, ["runner", "wall s", "speed-up over local"], rows, args.out, notes)


def task_overheads(ray) -> dict[str, float]:
    """Seconds for the first empty task (a worker starts), the median round trip of later ones, and the first
    task of a new worker with the grid's runtime environment that imports cnfrl (what each grid worker pays)."""
    noop = ray.remote(num_cpus=1)(lambda: None)
    start = time.perf_counter()
    ray.get(noop.remote())
    first = time.perf_counter() - start
    trips = []
    for _ in range(200):
        start = time.perf_counter()
        ray.get(noop.remote())
        trips.append(time.perf_counter() - start)
    env = runtime_env(RayCluster())
    importing = ray.remote(num_cpus=1)(_import_pipeline).options(runtime_env=env)
    start = time.perf_counter()
    ray.get(importing.remote())
    return {"first": first, "warm": float(np.median(trips)), "import": time.perf_counter() - start}


def _import_pipeline() -> None:
    import cnfrl.experiments.pipeline  # noqa: F401


if __name__ == "__main__":
    main()
