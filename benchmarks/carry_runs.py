"""Carry a long grid's run directories between sessions whose checkouts start empty (issue 38's budget grid).

`save` copies what a run needs to resume or be reported into a tracked folder: config.json, metrics.jsonl,
eval.json and, for a run that has not finished, its last checkpoint and its action model's copy (model/: the
resumed run loads it instead of pre-training again). A finished run's checkpoint and model are left out: its
eval.json and metrics say everything a report needs, and `cnfrl bench` counts it finished without one.
TensorBoard events, plots, the previous checkpoint and the owner lock stay behind. `restore` copies them back
under the grid's `out` so `cnfrl bench` resumes.
Usage: python benchmarks/carry_runs.py save bench/budget-cpu/runs benchmarks/results/budget_cpu/runs
       python benchmarks/carry_runs.py restore benchmarks/results/budget_cpu/runs bench/budget-cpu/runs
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from cnfrl.experiments.groups import finished
from cnfrl.experiments.registry import load_config
from cnfrl.training.checkpoints import CHECKPOINT

KEPT = ("config.json", "metrics.jsonl", "eval.json")


def save(source: Path, target: Path) -> list[str]:
    """Copy each run's resumable part from `source` into `target`; one line per run saying what was kept."""
    lines = []
    for run_dir in sorted(path.parent for path in source.glob("*/config.json")):
        out = target / run_dir.name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for name in KEPT:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, out / name)
        done = finished(load_config(run_dir / "config.json"), run_dir)
        if not done and (run_dir / CHECKPOINT).is_file():
            (out / CHECKPOINT).parent.mkdir()
            shutil.copy2(run_dir / CHECKPOINT, out / CHECKPOINT)
            if (run_dir / "model").is_dir():
                shutil.copytree(run_dir / "model", out / "model")
        state = "finished" if done else ("checkpoint kept" if (out / CHECKPOINT).is_file() else "nothing trained yet")
        lines.append(f"{run_dir.name}: {state}")
    return lines


def restore(source: Path, target: Path) -> list[str]:
    """Copy carried runs back into a grid's runs folder (never over a run that is already there)."""
    lines = []
    for run_dir in sorted(path.parent for path in source.glob("*/config.json")):
        out = target / run_dir.name
        if out.exists():
            lines.append(f"{run_dir.name}: already in {target}, left as it is")
            continue
        shutil.copytree(run_dir, out)
        lines.append(f"{run_dir.name}: restored")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    args = parser.parse_args()
    args.target.mkdir(parents=True, exist_ok=True)
    print("\n".join((save if args.action == "save" else restore)(args.source, args.target)))


if __name__ == "__main__":
    main()
