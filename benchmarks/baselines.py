"""Benchmark: every registered algorithm and ablation on generated datasets, several seeds, one table.

Each (seed, dataset, algorithm) is an ordinary run (`cnfrl run --algo ALGO DATASET --preset PRESET --seed S`)
in RUNS/DATASET/ALGO/sSEED; a finished run (eval.json present) is skipped, an interrupted one resumes, so
the benchmark can be stopped and restarted. After every run the table of final normalised scores (mean and
std over the seeds done, 10 deterministic episodes each) and the paper's ablation directions are rewritten,
with every run's final score in the same name .json. "seconds per run" is wall time including the action
model's pre-training when the run was the first to need it (later runs read it from the cache).
Usage: python benchmarks/baselines.py [--datasets hopper-medium halfcheetah-medium] [--seeds 0 1 2]
       [--algos cnf plas ...] [--preset cpu-quick] [--out benchmarks/results/baselines_cpu.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from tables import write_table

from cnfrl.experiments.config import applicable, with_overrides
from cnfrl.experiments.pipeline import evaluate_stage, train_stage
from cnfrl.experiments.registry import ALGORITHMS, preset

ABLATIONS = [
    ("uniform > normal latent", "cnf", "cnf-normal"),
    ("bounded > unbounded latent policy (normal latent)", "cnf-normal", "cnf-normal-unbounded"),
    ("flow > VAE (CNF objective)", "cnf", "cnf-vae"),
    ("advantage-weighted > PLAS-style objective (flow)", "cnf", "cnf-plas-objective"),
]


def run_one(runs: Path, dataset: str, algo: str, seed: int, preset_name: str, overrides: list[str], episodes: int) -> dict:
    """Train and evaluate one (dataset, algorithm, seed) unless its eval.json exists; return that summary."""
    run_dir = runs / dataset / algo / f"s{seed}"
    if (run_dir / "eval.json").is_file():
        return json.loads((run_dir / "eval.json").read_text())
    base = preset(preset_name, algo)
    config = dataclasses.replace(with_overrides(base, applicable(base, overrides)), dataset=dataset, seed=seed)
    start = time.perf_counter()
    train_stage(config, run_dir, resume=True, show_progress=False)
    summary = evaluate_stage(run_dir, episodes, show_progress=False)
    summary["seconds"] = time.perf_counter() - start
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{dataset} {algo} seed {seed}: {summary['final']['score_mean']:.1f} ({summary['seconds']:.0f} s)", flush=True)
    return summary


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):.1f} +- {np.std(values):.1f} (n={len(values)})"


def table(results: dict, datasets: list[str], algos: list[str]) -> tuple[list[list[str]], str]:
    """Rows of mean +- std final scores per algorithm and dataset, and the ablation-direction notes."""
    scores = {(d, a): [r["final"]["score_mean"] for r in results.get((d, a), [])] for d in datasets for a in algos}
    rows = [
        [
            a,
            *(_cell(scores[(d, a)]) for d in datasets),
            f"{np.mean([r.get('seconds', np.nan) for d in datasets for r in results.get((d, a), [])] or [np.nan]):.0f}",
        ]
        for a in algos
    ]
    dataset_scores = [
        next(iter(results.get((d, a), [{}]) for a in algos if results.get((d, a))), [{}])[0].get("dataset_score_mean")
        for d in datasets
    ]
    rows.append(["dataset mean return", *("-" if s is None else f"{s:.1f}" for s in dataset_scores), ""])
    notes = [
        "Mean +- std over seeds (n = seeds done). Paper's ablation directions (difference of the seed means;",
        "positive = the paper's direction; 'within the spread' when it is smaller than the larger of the two stds):",
        "",
    ]
    for label, better, worse in ABLATIONS:
        for d in datasets:
            if scores.get((d, better)) and scores.get((d, worse)):
                gap = np.mean(scores[(d, better)]) - np.mean(scores[(d, worse)])
                spread = max(np.std(scores[(d, better)]), np.std(scores[(d, worse)]))
                verdict = ("holds" if gap > 0 else "does not hold") + (", within the spread" if abs(gap) <= spread else "")
                notes.append(f"- {d}, {label}: {gap:+.1f} ({verdict})")
    return rows, "\n".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["hopper-medium", "halfcheetah-medium"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS))
    parser.add_argument("--preset", default="cpu-quick")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="override, e.g. loop.updates=20000")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--runs", type=Path, default=Path("runs/baselines"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    command = "python benchmarks/baselines.py " + " ".join(
        [f"--datasets {' '.join(args.datasets)}", f"--seeds {' '.join(map(str, args.seeds))}", f"--preset {args.preset}"]
        + [f"--set {o}" for o in args.overrides]
    )
    results: dict = {}
    for seed in args.seeds:
        for dataset in args.datasets:
            for algo in args.algos:
                summary = run_one(args.runs, dataset, algo, seed, args.preset, args.overrides, args.episodes)
                results.setdefault((dataset, algo), []).append(summary)
                rows, notes = table(results, args.datasets, args.algos)
                if args.out is not None:
                    finals = [
                        {
                            "dataset": d,
                            "algo": a,
                            "seed": r["seed"],
                            "score": r["final"]["score_mean"],
                            "seconds": r.get("seconds"),
                        }
                        for (d, a), runs in results.items()
                        for r in runs
                    ]
                    args.out.with_suffix(".json").write_text(json.dumps(finals, indent=1) + "\n")
                write_table(
                    f"Final normalised score, preset {args.preset}, {args.episodes} evaluation episodes per seed",
                    command,
                    ["algorithm", *args.datasets, "seconds per run"],
                    rows,
                    args.out,
                    notes,
                )


if __name__ == "__main__":
    main()
