"""Run reports: report.md with the scores and a learning-curve plot, written next to the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def learning_curve(history: list[dict], baselines: dict[str, float], path: Path, metric: str, label: str = "agent") -> Path:
    """Plot the evaluation metric against updates, with horizontal lines for the baselines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 4))
    steps = [record["step"] for record in history]
    axis.plot(steps, [record[f"eval_{metric}"] for record in history], marker="o", label=label)
    for name, value in baselines.items():
        axis.axhline(value, linestyle="--", linewidth=1, label=name, color=f"C{len(axis.lines)}")
    axis.set_xlabel("updates")
    axis.set_ylabel(metric_unit(metric))
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def summary_metric(summary: dict[str, Any]) -> str:
    """The figure an eval.json summary is judged by: the normalised score when references exist, else the return."""
    return "score_mean" if "score_mean" in summary["final"] else "return_mean"


def metric_unit(metric: str) -> str:
    """How a table or axis names `summary_metric`'s figure."""
    return "normalised score" if metric == "score_mean" else "return"


def result_rows(summary: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    """The rows every view of an eval.json summary shows (report.md, the CLI's table): (policy, mean, std) of
    the final agent, BC through its action model, and the dataset's mean episode (no std)."""
    metric = summary_metric(summary)
    std = metric.replace("mean", "std")
    rows = [(f"{summary['algo'].upper()} (final)", summary["final"][metric], summary["final"][std])]
    if "bc_model" in summary:
        rows.append((f"BC through the {summary['model']['kind']} (z = 0)", summary["bc_model"][metric], summary["bc_model"][std]))
    if summary.get("dataset_" + metric) is not None:
        rows.append(("dataset mean episode", summary["dataset_" + metric], None))
    return rows


def write_run_report(run_dir: Path, summary: dict[str, Any], history: list[dict]) -> Path:
    """report.md: what ran, the final evaluation next to BC through the action model and the dataset, the curve."""
    metric = summary_metric(summary)
    unit = metric_unit(metric)
    rows = result_rows(summary)
    model_text = f"{summary['model']['kind']} best epoch {summary['model']['best_epoch']}, " if "model" in summary else ""
    baselines = {name: mean for name, mean, _ in rows[1:]}
    learning_curve(history, baselines, Path(run_dir) / "plots" / "learning_curve.png", metric, summary["algo"].upper())
    lines = [
        f"# cnfrl run: {summary['algo']} on {summary['dataset']}",
        "",
        f"Preset `{summary['preset']}`, seed {summary['seed']}, {summary['updates']:,} updates, "
        f"{model_text}{summary['eval_episodes']} evaluation episodes (deterministic policy) on `{summary['env_id']}`.",
        "",
        f"| policy | {unit} (mean +- std) |",
        "|---|---:|",
        *(f"| {name} | {mean:.1f}" + (f" +- {std:.1f} |" if std is not None else " |") for name, mean, std in rows),
    ]
    lines += ["", "![learning curve](plots/learning_curve.png)", "", "| updates | " + unit + " |", "|---:|---:|"]
    lines += [f"| {record['step']:,} | {record['eval_' + metric]:.1f} |" for record in history]
    path = Path(run_dir) / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
