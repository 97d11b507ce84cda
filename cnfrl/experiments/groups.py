"""A group: the seeds of one (algorithm, dataset) that train together as one vmapped program, each into its own
run directory. What the local grid runner and the Ray runner both need to know about one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnfrl.experiments.config import RunConfig
from cnfrl.experiments.run_report import summary_metric
from cnfrl.training.checkpoints import CHECKPOINT, checkpoint_updates

Group = tuple[list[RunConfig], list[Path]]


def finished(config: RunConfig, run_dir: Path) -> bool:
    """Whether run_dir holds this run finished: its evaluation written after all of `config`'s updates, and its
    checkpoint (when it is kept: a campaign may carry finished runs without theirs) at that same update."""
    eval_path, checkpoint = run_dir / "eval.json", run_dir / CHECKPOINT
    if not eval_path.is_file() or json.loads(eval_path.read_text()).get("updates") != config.loop.updates:
        return False
    return not checkpoint.is_file() or checkpoint_updates(checkpoint) == config.loop.updates


def group_name(configs: list[RunConfig]) -> str:
    """How progress lines and failures name a group of seeds."""
    return f"{configs[0].algo} on {configs[0].dataset}"


def remaining_updates(todo: list[Group]) -> int:
    """The updates the groups still have to make, summed over their seeds (what a grid's progress counts)."""
    return sum(_remaining_updates(c, d) for configs, dirs in todo for c, d in zip(configs, dirs, strict=True))


def scores_text(summaries: list[dict[str, Any]]) -> str:
    """A group's final scores, one per seed, for a progress line."""
    return ", ".join(f"seed {s['seed']} {s['final'][summary_metric(s)]:.1f}" for s in summaries)


def _remaining_updates(config: RunConfig, run_dir: Path) -> int:
    checkpoint = run_dir / CHECKPOINT
    done = checkpoint_updates(checkpoint) if checkpoint.is_file() else 0
    return max(config.loop.updates - done, 0)
