"""Run reports: report.md with the scores and a learning-curve plot, written next to the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def learning_curve(history: list[dict], baselines: dict[str, float], path: Path, metric: str) -> Path:
    """Plot the evaluation metric against updates, with horizontal lines for the baselines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 4))
    steps = [record["step"] for record in history]
    axis.plot(steps, [record[f"eval_{metric}"] for record in history], marker="o", label="CNF")
    for name, value in baselines.items():
        axis.axhline(value, linestyle="--", linewidth=1, label=name, color=f"C{len(axis.lines)}")
    axis.set_xlabel("updates")
    axis.set_ylabel("normalised score" if metric == "score_mean" else "return")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_report(run_dir: Path, summary: dict[str, Any], history: list[dict]) -> Path:
    """report.md: what ran, the final evaluation next to BC through the flow and the dataset, the curve."""
    metric = "score_mean" if "score_mean" in summary["final"] else "return_mean"
    unit = "normalised score" if metric == "score_mean" else "return"
    baselines = {"BC through the flow (z = 0)": summary["bc_flow"][metric]}
    if summary.get("dataset_" + metric) is not None:
        baselines["dataset mean"] = summary["dataset_" + metric]
    learning_curve(history, baselines, Path(run_dir) / "plots" / "learning_curve.png", metric)
    final, bc = summary["final"], summary["bc_flow"]
    std = metric.replace("mean", "std")
    lines = [
        f"# cnfrl run: {summary['dataset']}",
        "",
        f"Preset `{summary['preset']}`, seed {summary['seed']}, {summary['updates']:,} updates, "
        f"flow best epoch {summary['flow_best_epoch']}, {summary['eval_episodes']} evaluation episodes "
        f"(deterministic policy) on `{summary['env_id']}`.",
        "",
        f"| policy | {unit} (mean +- std) |",
        "|---|---:|",
        f"| CNF (final) | {final[metric]:.1f} +- {final[std]:.1f} |",
        f"| BC through the flow (z = 0) | {bc[metric]:.1f} +- {bc[std]:.1f} |",
    ]
    if summary.get("dataset_" + metric) is not None:
        lines.append(f"| dataset mean episode | {summary['dataset_' + metric]:.1f} |")
    lines += ["", "![learning curve](plots/learning_curve.png)", "", "| updates | " + unit + " |", "|---:|---:|"]
    lines += [f"| {record['step']:,} | {record['eval_' + metric]:.1f} |" for record in history]
    path = Path(run_dir) / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
