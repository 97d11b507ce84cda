"""Several finished runs side by side: per-group (algorithm, dataset) mean +- std over seeds, curves and a plot.

Each run directory contributes its eval.json (final score, BC through its action model, dataset mean) and the
evaluations in metrics.jsonl (its learning curve). Runs of the same algorithm on the same dataset form one
group, whatever their seeds, so `cnfrl compare runs/cnf-s* runs/plas-s*` is a two-row table a paper can take.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnfrl.errors import CnfrlError
from cnfrl.report import metric_unit, plt, summary_metric


@dataclass(frozen=True)
class RunResult:
    """What one finished run reports: its eval.json summary and its evaluation history."""

    run_dir: Path
    summary: dict
    curve: dict[int, float]

    @property
    def group(self) -> str:
        """The row this run belongs to: algorithm on dataset."""
        return f"{self.summary['algo']} on {self.summary['dataset']}"


def load_run(run_dir: Path) -> RunResult:
    """Read a finished run (eval.json and metrics.jsonl); a one-line error names what is missing."""
    run_dir = Path(run_dir)
    eval_path = run_dir / "eval.json"
    if not eval_path.is_file():
        raise CnfrlError(f"{run_dir}: no eval.json; finish the run (`cnfrl run`) or evaluate it (`cnfrl evaluate {run_dir}`)")
    summary = json.loads(eval_path.read_text())
    metric = summary_metric(summary)
    curve = {}
    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        for line in metrics_path.read_text().splitlines():
            record = json.loads(line)
            if f"eval_{metric}" in record:
                curve[record["step"]] = record[f"eval_{metric}"]
    return RunResult(run_dir, summary, curve)


def compare_runs(run_dirs: list[Path], out_dir: Path) -> Path:
    """Write compare.md (final scores and learning curves, mean +- std over each group's runs) and compare.png."""
    if not run_dirs:
        raise CnfrlError("no run directories given; e.g. cnfrl compare runs/cnf-s0 runs/cnf-s1 --out comparison")
    runs = [load_run(path) for path in run_dirs]
    metrics = {summary_metric(run.summary) for run in runs}
    if len(metrics) > 1:
        raise CnfrlError(
            "some runs report normalised scores and some only returns; compare runs on datasets with reference scores together"
        )
    metric = metrics.pop()
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        groups[run.group].append(run)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    unit = metric_unit(metric)
    lines = [
        f"# Comparison ({unit}, mean +- std over runs)",
        "",
        "| algorithm on dataset | runs (seeds) | updates | final | BC through the action model | dataset mean |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, members in groups.items():
        bc = [run.summary["bc_model"][metric] for run in members if "bc_model" in run.summary]
        dataset = [run.summary.get(f"dataset_{metric}") for run in members]
        lines.append(
            f"| {name} | {len(members)} ({', '.join(str(run.summary['seed']) for run in members)}) "
            f"| {_span([run.summary['updates'] for run in members])} "
            f"| {_cell([run.summary['final'][metric] for run in members])} "
            f"| {_cell(bc)} | {_cell([value for value in dataset if value is not None])} |"
        )
    lines += ["", "![learning curves](compare.png)", ""]
    figure, axis = plt.subplots(figsize=(7, 4))
    for name, members in groups.items():
        steps, mean, std = _common_curve(members)
        if not steps:
            continue
        lines += [f"## {name}: evaluations every run reached", "", "| updates | mean | std |", "|---:|---:|---:|"]
        lines += [f"| {step:,} | {m:.1f} | {s:.1f} |" for step, m, s in zip(steps, mean, std, strict=True)]
        lines.append("")
        axis.plot(steps, mean, marker="o", markersize=3, label=f"{name} (n={len(members)})")
        axis.fill_between(steps, mean - std, mean + std, alpha=0.2)
    axis.set_xlabel("updates")
    axis.set_ylabel(unit)
    axis.grid(alpha=0.3)
    if axis.lines:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_dir / "compare.png", dpi=120)
    plt.close(figure)
    path = out_dir / "compare.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _common_curve(members: list[RunResult]) -> tuple[list[int], np.ndarray, np.ndarray]:
    steps = sorted(set.intersection(*(set(run.curve) for run in members)))
    values = np.array([[run.curve[step] for step in steps] for run in members]).reshape(len(members), len(steps))
    return steps, values.mean(0), values.std(0)


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.1f} +- {np.std(values):.1f}" if values else "-"


def _span(values: list[int]) -> str:
    return f"{min(values):,}" if min(values) == max(values) else f"{min(values):,}-{max(values):,}"
