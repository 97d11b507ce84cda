"""The D4RL dataset levels as recipes: which policy collects, and under which built-in name it is stored."""

from __future__ import annotations

from pathlib import Path

from cnfrl.collect.rollout import collect_transitions, uniform_random_policy
from cnfrl.data.minari import minari_root, write_minari
from cnfrl.data.resolve import BUILTIN_LEVELS, BUILTIN_TASKS, builtin_dataset_id
from cnfrl.errors import CnfrlError

AVAILABLE_LEVELS = ("random",)


def collect_dataset(
    name: str,
    steps: int,
    seed: int = 0,
    root: Path | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Collect the built-in dataset `name` (TASK-LEVEL, e.g. hopper-random) and write it as a Minari dataset."""
    dataset_id = builtin_dataset_id(name)
    if dataset_id is None:
        raise CnfrlError(
            f"{name}: not a built-in dataset name; use TASK-LEVEL with TASK in {', '.join(BUILTIN_TASKS)} "
            f"and LEVEL in {', '.join(BUILTIN_LEVELS)}"
        )
    task, level = name.split("-", 1)
    if level not in AVAILABLE_LEVELS:
        raise CnfrlError(
            f"{name}: level '{level}' needs a trained behaviour policy, which this version cannot make yet; "
            f"available levels: {', '.join(AVAILABLE_LEVELS)}"
        )
    if steps <= 0:
        raise CnfrlError(f"{name}: --steps must be positive (got {steps})")
    transitions = collect_transitions(
        BUILTIN_TASKS[task],
        uniform_random_policy,
        steps,
        seed,
        metadata={"recipe": level, "algorithm_name": "uniform-random", "dataset_id": dataset_id},
        show_progress=show_progress,
    )
    behaviour_return = float(transitions.episode_returns().mean())
    transitions = transitions.replace(metadata={**transitions.metadata, "behaviour_return": behaviour_return})
    return write_minari(transitions, dataset_id, root if root is not None else minari_root(), overwrite=overwrite)
