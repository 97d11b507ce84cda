"""Benchmark: how steady each algorithm is, and how high it ends, on generated datasets, several seeds.

Every (dataset, row, seed) is an ordinary training run (the run's config.json, checkpoints and metrics in
RUNS/DATASET/ROW/sSEED), with the same budget for every row. A row is a registered algorithm, or with
`--ablations VARIANT` a CNF variant (cnf-steady, cnf-td3bc) with one of its departures from `cnf` set back to
`cnf`'s value ("VARIANT minus FIELD"): the departures come from comparing the two presets, so each one gets its row.
For each row and dataset the table gives the mean of the last 4 evaluations (mean +- std over seeds) and
their spread (max - min of the last 4, averaged over seeds); one plot per dataset shows the learning curves
(seed mean, min-max band).
Finished runs are read back, an interrupted one resumes, so the benchmark can be stopped and restarted.
Action models are pre-trained in this process, one (dataset, seed) at a time, while earlier runs train;
`--jobs N` trains N runs at once, each with single-threaded XLA (every process then keeps to one core:
two multi-threaded JAX trainings on the 2-core CPU over-subscribed it and each ran about 5x slower).
The table, plots and the per-run curves (same name .json) are rewritten as each run finishes.
Usage: python benchmarks/stability.py [--datasets hopper-medium walker2d-medium halfcheetah-medium]
       [--seeds 0 1 2] [--rows cnf cnf-steady cnf-td3bc bc plas lapo] [--ablations cnf-td3bc] [--preset cpu-quick]
       [--set loop.updates=50000] [--jobs 2] [--report-only] [--out benchmarks/results/stability_cpu.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tables import write_table

from cnfrl.experiments.config import RunConfig, applicable, with_overrides
from cnfrl.experiments.registry import algorithm, preset
from cnfrl.utils.hardware import single_thread_xla_flags

VARIANTS, FAITHFUL = ("cnf-steady", "cnf-td3bc"), "cnf"
LAST = 4


def ablation_rows(preset_name: str, name: str) -> dict[str, tuple[str, list[str]]]:
    """One row per agent setting in which the variant `name` departs from faithful CNF: that setting put back."""
    variant, faithful = preset(preset_name, name).agent, preset(preset_name, FAITHFUL).agent
    rows = {}
    for field in dataclasses.fields(variant):
        value = getattr(faithful, field.name)
        if getattr(variant, field.name) != value:
            text = json.dumps(list(value) if isinstance(value, tuple) else value)
            rows[f"{name} minus {field.name}"] = (name, [f"agent.{field.name}={text}"])
    return rows


def run_config(algo: str, overrides: list[str], dataset: str, seed: int, preset_name: str, common: list[str]) -> RunConfig:
    """The run's config: the algorithm's preset, the shared overrides it has sections for (no pre-training
    settings for BC or LAPO), then the row's own."""
    base = preset(preset_name, algo)
    return dataclasses.replace(with_overrides(base, applicable(base, common) + overrides), dataset=dataset, seed=seed)


def pretrain(config: RunConfig, loaded: dict) -> None:
    """Pre-train (or find in the cache) the action model a run will need, if any; `loaded` keeps each dataset
    read once for all its rows and seeds."""
    from cnfrl.experiments.pipeline import load_run_data, pretrain_stage

    if algorithm(config.algo).action_model is None:
        return
    if config.dataset not in loaded:
        loaded[config.dataset] = load_run_data(config, show_progress=False)
    pretrain_stage(config, loaded[config.dataset], None, show_progress=False)


def run_one(config: RunConfig, run_dir: Path) -> dict:
    """Train one run unless it finished before; its evaluation curve, dataset score and wall time."""
    result_path = run_dir / "curve.json"
    if result_path.is_file():
        return json.loads(result_path.read_text())
    from cnfrl.experiments.pipeline import train_stage

    start = time.perf_counter()
    _, history, data, _ = train_stage(config, run_dir, resume=True, show_progress=False)
    returns = data.transitions.episode_returns()
    result = {
        "steps": [h["step"] for h in history],
        "scores": [h["eval_score_mean"] for h in history],
        "dataset_score": data.references.score(float(np.mean(returns))),
        "seconds": time.perf_counter() - start,
    }
    result_path.write_text(json.dumps(result) + "\n")
    print(f"{run_dir}: last {LAST} {np.mean(result['scores'][-LAST:]):.1f} ({result['seconds']:.0f} s)", flush=True)
    return result


def summary_rows(results: dict, datasets: list[str], rows: list[str]) -> list[list[str]]:
    """Per row: for each dataset, mean of the last evaluations (+- std over seeds) and their spread."""
    table = []
    for row in rows:
        cells = [row]
        for dataset in datasets:
            curves = results.get((dataset, row), [])
            if not curves:
                cells += ["-", "-"]
                continue
            finals = [np.mean(c["scores"][-LAST:]) for c in curves]
            spreads = [np.ptp(c["scores"][-LAST:]) for c in curves]
            cells += [f"{np.mean(finals):.1f} +- {np.std(finals):.1f} (n={len(curves)})", f"{np.mean(spreads):.1f}"]
        table.append(cells)
    dataset_scores = [
        next((c[0]["dataset_score"] for (d, _), c in results.items() if d == dataset and c), None) for dataset in datasets
    ]
    table.append(["dataset mean", *[x for s in dataset_scores for x in ("-" if s is None else f"{s:.1f}", "")]])
    return table


def plot(results: dict, dataset: str, rows: list[str], path: Path) -> None:
    """Learning curves of every row on one dataset: the seed mean with its min-max band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    for row in rows:
        curves = results.get((dataset, row), [])
        if not curves:
            continue
        length = min(len(c["scores"]) for c in curves)
        steps = np.asarray(curves[0]["steps"][:length])
        scores = np.asarray([c["scores"][:length] for c in curves])
        axis.plot(steps, scores.mean(0), label=f"{row} (n={len(curves)})", linestyle="--" if " minus " in row else "-")
        axis.fill_between(steps, scores.min(0), scores.max(0), alpha=0.15)
    axis.set_xlabel("updates")
    axis.set_ylabel("normalised score")
    axis.set_title(dataset)
    axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["hopper-medium", "walker2d-medium", "halfcheetah-medium"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rows", nargs="+", default=[FAITHFUL, *VARIANTS, "bc", "plas", "lapo"])
    parser.add_argument(
        "--ablations", nargs="+", choices=VARIANTS, default=None, help="add these variants with each departure put back"
    )
    parser.add_argument("--preset", default="cpu-quick")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="override for every run, e.g. loop.updates=50000"
    )
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--report-only", action="store_true", help="write the table from finished runs; train nothing")
    parser.add_argument("--runs", type=Path, default=Path("runs/stability"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.jobs > 1:
        os.environ["XLA_FLAGS"] = single_thread_xla_flags()
    specs = {row: (row, []) for row in args.rows}
    for name in args.ablations or []:
        specs.update(ablation_rows(args.preset, name))
    for algo, _ in specs.values():
        algorithm(algo)
    command = "python benchmarks/stability.py " + " ".join(
        [f"--datasets {' '.join(args.datasets)}", f"--seeds {' '.join(map(str, args.seeds))}", f"--rows {' '.join(args.rows)}"]
        + ([f"--ablations {' '.join(args.ablations)}"] if args.ablations else [])
        + [f"--preset {args.preset}"]
        + [f"--set {o}" for o in args.overrides]
    )
    groups = [(dataset, seed) for seed in args.seeds for dataset in args.datasets]
    configs = {
        (dataset, row, seed): run_config(algo, overrides, dataset, seed, args.preset, args.overrides)
        for dataset, seed in groups
        for row, (algo, overrides) in specs.items()
    }
    results: dict = {}
    header = ["row"] + [x for d in args.datasets for x in (f"{d} last {LAST}", "spread")]
    notes = (
        f"'last {LAST}': the mean of the last {LAST} evaluations of a run, then mean +- std over seeds; 'spread': max - min "
        f"of those {LAST} evaluations, averaged over seeds. Learning curves: stability/DATASET.png beside this table."
    )

    def record(key: tuple, curve: dict) -> None:
        dataset, row, seed = key
        results.setdefault((dataset, row), []).append({"seed": seed, **curve})
        write_table(
            f"Stability: last {LAST} evaluations, preset {args.preset}",
            command,
            header,
            summary_rows(results, args.datasets, list(specs)),
            args.out,
            notes,
        )
        if args.out is not None:
            for name in args.datasets:
                plot(results, name, list(specs), args.out.parent / "stability" / f"{name}.png")
            finals = [{"dataset": d, "row": r, **c} for (d, r), curves in results.items() for c in curves]
            args.out.with_suffix(".json").write_text(json.dumps(finals, indent=1) + "\n")

    loaded: dict = {}
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for dataset, seed in groups:
            for row in specs:
                run_dir = args.runs / dataset / row / f"s{seed}"
                if args.report_only and not (run_dir / "curve.json").is_file():
                    continue
                if not (run_dir / "curve.json").is_file():
                    pretrain(configs[(dataset, row, seed)], loaded)
                futures[pool.submit(run_one, configs[(dataset, row, seed)], run_dir)] = (dataset, row, seed)
        for future in as_completed(futures):
            record(futures[future], future.result())


if __name__ == "__main__":
    main()
