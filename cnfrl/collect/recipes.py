"""The D4RL dataset recipes on Gymnasium environments, written as Minari datasets under built-in names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnfrl.collect.behaviour import REFERENCE_EPISODES, behaviour_policy, load_behaviour, medium_replay
from cnfrl.collect.maze import EPISODE_STEPS, WaypointController, make_maze_env
from cnfrl.collect.rollout import collect_transitions, uniform_random_policy
from cnfrl.data.builtin import MUJOCO_TASKS, BuiltinName, builtin_names, parse_builtin
from cnfrl.data.flat import transitions_from_flat
from cnfrl.data.minari import write_minari
from cnfrl.data.transitions import Transitions, concatenate
from cnfrl.envs.evaluate import evaluate_policy
from cnfrl.envs.make import make_env
from cnfrl.errors import CnfrlError
from cnfrl.utils.files import check_writable, refuse_overwrite

DEFAULT_STEPS = {"mujoco": 1_000_000, "umaze": 1_000_000, "medium": 2_000_000, "large": 4_000_000}
MAZE_NOISE = 0.5


def default_steps(name: str) -> int:
    """D4RL's dataset size for a built-in name: 1M for MuJoCo levels, 1M/2M/4M for the three mazes."""
    builtin = _parse(name)
    return DEFAULT_STEPS[builtin.level if builtin.task == "maze2d" else "mujoco"]


def collect_dataset(
    name: str,
    steps: int | None = None,
    seed: int = 0,
    root: Path | None = None,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Generate the built-in dataset `name` (e.g. hopper-medium, maze2d-umaze-dense) as a Minari dataset."""
    builtin = _parse(name)
    steps = default_steps(name) if steps is None else steps
    if steps <= 0:
        raise CnfrlError(f"{name}: --steps must be positive (got {steps})")
    refuse_overwrite(builtin.path(root), overwrite)
    check_writable(builtin.path(root).parent, "choose another --root (or MINARI_DATASETS_PATH) or fix its permissions")
    collect = _collect_maze if builtin.task == "maze2d" else _collect_mujoco
    transitions = collect(builtin, steps, seed, show_progress)
    metadata = {
        **transitions.metadata,
        "dataset_id": builtin.dataset_id,
        "recipe": builtin.level,
        "behaviour_return": float(transitions.episode_returns().mean()),
        "description": f"cnfrl {builtin.name}: D4RL's {builtin.level} recipe on {transitions.metadata['env_id']}",
    }
    return write_minari(transitions.replace(metadata=metadata), builtin.dataset_id, root, overwrite=overwrite)


def _parse(name: str) -> BuiltinName:
    builtin = parse_builtin(name)
    if builtin is None:
        raise CnfrlError(f"{name}: not a built-in dataset name; choose one of {', '.join(builtin_names())}")
    return builtin


def _collect_mujoco(builtin: BuiltinName, steps: int, seed: int, show_progress: bool) -> Transitions:
    env_id = MUJOCO_TASKS[builtin.task]
    level = builtin.level
    if level == "random":
        record = _record_if_trained(builtin.task)
        env = make_env(env_id)
        metadata = {"algorithm_name": "uniform-random", **_references(record)}
        return collect_transitions(env, uniform_random_policy(env, seed), steps, seed, metadata, show_progress=show_progress)
    record = load_behaviour(builtin.task)
    references = _references(record)
    if level == "medium-replay":
        history = medium_replay(builtin.task, show_progress)
        metadata = {
            "env_id": env_id,
            "algorithm_name": f"SAC replay up to step {len(history['rewards'])}",
            "seed": record["seed"],
            **references,
        }
        return transitions_from_flat(history, metadata, builtin.name)
    parts = []
    for offset, which in enumerate(("medium", "expert") if level == "medium-expert" else (level,)):
        env = make_env(env_id)
        policy = behaviour_policy(builtin.task, which, seed + offset)
        metadata = {
            "algorithm_name": f"SAC {which} (step {record[which]['step']})",
            "behaviour_policy_eval_return": record[which]["eval_return"],
            **references,
        }
        parts.append(collect_transitions(env, policy, steps, seed + offset, metadata, show_progress=show_progress))
    return parts[0] if len(parts) == 1 else concatenate(parts, {**parts[0].metadata, "algorithm_name": "SAC medium + expert"})


def _record_if_trained(task: str) -> dict[str, Any] | None:
    try:
        return load_behaviour(task)
    except CnfrlError:
        return None


def _references(record: dict[str, Any] | None) -> dict[str, float]:
    if record is None:
        return {}
    return {"ref_min_score": record["ref_min_score"], "ref_max_score": record["ref_max_score"]}


def _collect_maze(builtin: BuiltinName, steps: int, seed: int, show_progress: bool) -> Transitions:
    maze, dense = builtin.level, builtin.dense
    env = make_maze_env(maze, dense, collecting=True)
    controller = WaypointController(env, noise=MAZE_NOISE, seed=seed)
    metadata = {
        "algorithm_name": f"waypoint controller, action noise {MAZE_NOISE}",
        "reward": "dense" if dense else "sparse",
        **maze_references(maze, dense, seed),
    }
    transitions = collect_transitions(
        env, controller, steps, seed, metadata, episode_steps=EPISODE_STEPS[maze], show_progress=show_progress
    )
    spec = make_maze_env(maze, dense, False).spec
    assert spec is not None
    return transitions.replace(metadata={**transitions.metadata, "env_id": spec.id})


def maze_references(maze: str, dense: bool, seed: int, episodes: int = REFERENCE_EPISODES) -> dict[str, float]:
    """Random and noiseless-controller mean returns on the evaluation maze (fixed goal per episode)."""
    env = make_maze_env(maze, dense, collecting=False)
    random_returns = evaluate_policy(env, uniform_random_policy(env, seed), episodes, seed=30_000)
    expert_returns = evaluate_policy(env, WaypointController(env, noise=0.0, seed=seed), episodes, seed=20_000)
    return {"ref_min_score": float(np.mean(random_returns)), "ref_max_score": float(np.mean(expert_returns))}
