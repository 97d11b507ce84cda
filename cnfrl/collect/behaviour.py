"""Behaviour policies: train SAC once per task, keep the medium and expert actors, reuse them for every level.

The kept actors (a few hundred KB each) live in the package, `cnfrl/collect/policies/<task>/`, next to
`training.json`, which records the command that trained them, the evaluation curve, the chosen checkpoints
and the task's reference returns. The replay buffer of the run (for medium-replay) is cached locally; where it
is not, the recorded training runs again until its own policy reaches the medium level (or its recorded
steps end, the buffer then cut at its checkpoint closest to that level).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from cnfrl.collect.rollout import uniform_random_policy
from cnfrl.collect.sac import ActorPolicy, Checkpoint, SACConfig, end_last_episode, train_sac
from cnfrl.envs.evaluate import evaluate_policy
from cnfrl.envs.make import make_env
from cnfrl.envs.reference_scores import D4RL_REFERENCE_RETURNS
from cnfrl.errors import CnfrlError
from cnfrl.utils.params import load_params, save_params
from cnfrl.utils.paths import cache_dir

PACKAGED_POLICIES = Path(__file__).parent / "policies"
MEDIUM_D4RL_NORMALIZED = {"hopper": 50.0, "halfcheetah": 40.0, "walker2d": 70.0}
MEDIUM_TOLERANCE = 0.1
REFERENCE_EPISODES = 100


def policy_dir() -> Path:
    """Where behaviour policies are kept: $CNFRL_POLICY_DIR, else the ones shipped in the package."""
    return Path(os.environ.get("CNFRL_POLICY_DIR", PACKAGED_POLICIES))


def medium_target_return(task: str, expert_return: float) -> float:
    """The return a medium policy is stopped at: D4RL's medium behaviour score for the task, else expert / 3."""
    if task in MEDIUM_D4RL_NORMALIZED:
        low, high = D4RL_REFERENCE_RETURNS[task]
        return low + MEDIUM_D4RL_NORMALIZED[task] / 100.0 * (high - low)
    return expert_return / 3.0


def near_target(eval_return: float, target: float) -> bool:
    """Whether an evaluation return counts as the medium level: within 10% of the target."""
    return abs(eval_return - target) <= MEDIUM_TOLERANCE * abs(target)


def choose_medium(checkpoints: list[Checkpoint], target: float) -> Checkpoint:
    """The earliest checkpoint within 10% of the target return, else the one closest to it."""
    for checkpoint in checkpoints:
        if near_target(checkpoint.eval_return_mean, target):
            return checkpoint
    return min(checkpoints, key=lambda c: abs(c.eval_return_mean - target))


def train_behaviour(
    task: str,
    env_id: str,
    steps: int,
    seed: int = 0,
    medium_return: float | None = None,
    out_dir: Path | None = None,
    config: SACConfig = SACConfig(),
    command: str = "",
    show_progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train SAC on `env_id`, keep the medium and expert actors and the replay, measure reference returns.

    Kept actors already in `out_dir` (by default the packaged ones every `collect` and reference score rests
    on) are replaced only with `overwrite`, and the check comes before any training.
    """
    out_dir = Path(out_dir) if out_dir is not None else policy_dir() / task
    if (out_dir / "expert.npz").exists() and not overwrite:
        raise CnfrlError(
            f"{out_dir}: holds {task}'s behaviour policies already (behind every dataset and reference score); "
            "pass --out DIR to keep new ones elsewhere, or --overwrite to replace them"
        )
    history, checkpoints, timing = train_sac(env_id, steps, seed, config, show_progress=show_progress)
    if not checkpoints:
        raise CnfrlError(f"{task}: no checkpoint was taken; train for at least --eval-every steps ({config.eval_every})")
    expert = max(checkpoints, key=lambda c: c.eval_return_mean)
    target = medium_return if medium_return is not None else medium_target_return(task, expert.eval_return_mean)
    medium = choose_medium(checkpoints, target)
    action_dim = history["actions"].shape[1]
    env = make_env(env_id)
    expert_policy = ActorPolicy(expert.actor_params, action_dim, config.hidden, seed)
    expert_returns = evaluate_policy(env, expert_policy, REFERENCE_EPISODES, seed=20_000)
    random_returns = evaluate_policy(env, uniform_random_policy(env, seed), REFERENCE_EPISODES, seed=30_000)
    save_params(expert.actor_params, out_dir / "expert.npz")
    save_params(medium.actor_params, out_dir / "medium.npz")
    save_params(history, cache_dir() / "behaviour" / task / "replay.npz")
    record = {
        "task": task,
        "env_id": env_id,
        "command": command,
        "seed": seed,
        "steps": int(timing["steps"]),
        "seconds": timing["seconds"],
        "sac_config": asdict(config),
        "medium_target_return": target,
        "medium": {"step": medium.step, "eval_return": medium.eval_return_mean},
        "expert": {"step": expert.step, "eval_return": expert.eval_return_mean},
        "ref_min_score": float(random_returns.mean()),
        "ref_max_score": float(expert_returns.mean()),
        "reference_episodes": REFERENCE_EPISODES,
        "checkpoints": [[c.step, c.eval_return_mean, c.eval_return_std] for c in checkpoints],
    }
    (out_dir / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def load_behaviour(task: str) -> dict[str, Any]:
    """The training record of a task's behaviour policies; a one-line error if none was trained."""
    path = policy_dir() / task / "training.json"
    if not path.is_file():
        raise CnfrlError(f"{task}: no trained behaviour policy in {path.parent}; run `cnfrl behaviour train {task}` first")
    return json.loads(path.read_text())


def behaviour_policy(task: str, which: str, seed: int) -> ActorPolicy:
    """The stochastic medium or expert actor of a task, as D4RL collected with them."""
    record = load_behaviour(task)
    params = load_params(policy_dir() / task / f"{which}.npz")
    head = params["MLP_0"]
    action_dim = head[f"Dense_{len(record['sac_config']['hidden'])}"]["bias"].shape[0] // 2
    return ActorPolicy(params, action_dim, recorded_sac_config(record).hidden, seed)


def recorded_sac_config(record: dict[str, Any]) -> SACConfig:
    """The SAC settings a training record was made with."""
    return SACConfig(**{**record["sac_config"], "hidden": tuple(record["sac_config"]["hidden"])})


def medium_replay(task: str, show_progress: bool = True) -> dict[str, np.ndarray]:
    """D4RL's medium-replay: every transition the behaviour run collected until its policy reached the medium level.

    Only the policies ship with the package. Without the behaviour run's cached buffer, the recorded training
    (settings and seed) runs again until its own policy reaches the medium return (else to its closest
    checkpoint), and that buffer is cached:
    SAC on another machine, or another thread count, does not repeat a run exactly, so this is a like run.
    """
    record = load_behaviour(task)
    folder = cache_dir() / "behaviour" / task
    if (folder / "replay.npz").is_file():
        history = {key: value[: record["medium"]["step"]] for key, value in load_params(folder / "replay.npz").items()}
    else:
        remade = folder / "medium_replay.npz"
        if not remade.is_file():
            save_params(rerun_to_medium(record, show_progress), remade)
        history = load_params(remade)
    end_last_episode(history)
    return history


def rerun_to_medium(record: dict[str, Any], show_progress: bool = True) -> dict[str, np.ndarray]:
    """The recorded SAC run's buffer made again (same environment, settings and seed) up to its first checkpoint
    at the medium return, as `choose_medium` picks it (its closest one where it never gets there); warns where its
    evaluations differ from the record's and where it never reaches the medium return."""
    target = record["medium_target_return"]
    history, checkpoints, _ = train_sac(
        record["env_id"],
        record["steps"],
        record["seed"],
        recorded_sac_config(record),
        on_checkpoint=lambda checkpoint: near_target(checkpoint.eval_return_mean, target),
        show_progress=show_progress,
    )
    medium = choose_medium(checkpoints, target)
    if not near_target(medium.eval_return_mean, target):
        warnings.warn(
            f"{record['task']}: this re-run of the behaviour training never evaluated within {MEDIUM_TOLERANCE:.0%} of "
            f"the medium return {target:.0f} in its {record['steps']} steps (closest: {medium.eval_return_mean:.0f} at "
            f"step {medium.step}); its medium-replay ends there, below the medium level",
            stacklevel=2,
        )
    recorded = {step: value for step, value, _ in record["checkpoints"]}
    differences = [abs(c.eval_return_mean - recorded[c.step]) for c in checkpoints if c.step in recorded]
    if max(differences, default=0.0) > 1e-3 * (1.0 + abs(target)):
        warnings.warn(
            f"{record['task']}: this re-run of the behaviour training differs from the recorded one (evaluations apart "
            f"by up to {max(differences):.1f}); its medium-replay is a like run's, up to the checkpoint it chose at "
            f"step {medium.step} (the record's: {record['medium']['step']})",
            stacklevel=2,
        )
    return {key: value[: medium.step] for key, value in history.items()}
