"""Step a Gymnasium environment under a policy and keep every transition, D4RL style."""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from cnfrl.data.transitions import Transitions
from cnfrl.progress import progress_bar

Policy = Callable[[np.ndarray], np.ndarray]


def uniform_random_policy(env: gym.Env, seed: int) -> Policy:
    """Uniform actions over the environment's action box: D4RL's `random` level."""
    space = env.action_space
    space.seed(seed)
    return lambda observation: space.sample()


def collect_transitions(
    env_id: str,
    make_policy: Callable[[gym.Env, int], Policy],
    steps: int,
    seed: int,
    metadata: dict[str, Any] | None = None,
    show_progress: bool = True,
) -> Transitions:
    """Run `steps` environment steps under the policy; episodes end at a terminal or the time limit.

    A time-limit end is a time-out, not a terminal; the last episode, cut by the step budget, ends with a
    time-out too. The same seed on the same machine gives the same transitions.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(env_id)
    policy = make_policy(env, seed)
    observation, _ = env.reset(seed=seed)
    dim = int(gym.spaces.flatdim(env.observation_space))
    columns = {
        "observations": np.empty((steps, dim), np.float32),
        "next_observations": np.empty((steps, dim), np.float32),
        "actions": np.empty((steps,) + env.action_space.shape, np.float32),
        "rewards": np.empty(steps, np.float32),
        "terminals": np.zeros(steps, bool),
        "timeouts": np.zeros(steps, bool),
        "episode_ends": np.zeros(steps, bool),
    }
    with progress_bar() as bar:
        task = bar.add_task(f"collect {env_id}", total=steps, visible=show_progress)
        for step in range(steps):
            action = np.asarray(policy(observation), np.float32)
            next_observation, reward, terminated, truncated, _ = env.step(action)
            columns["observations"][step] = observation
            columns["actions"][step] = action
            columns["rewards"][step] = reward
            columns["next_observations"][step] = next_observation
            columns["terminals"][step] = terminated
            columns["timeouts"][step] = truncated or (step == steps - 1 and not terminated)
            columns["episode_ends"][step] = terminated or columns["timeouts"][step]
            observation = env.reset()[0] if terminated or truncated else next_observation
            if step % 1000 == 0 or step == steps - 1:
                bar.update(task, completed=step + 1)
    env.close()
    provenance = {
        "env_id": env_id,
        "seed": seed,
        "gymnasium_version": gym.__version__,
        "mujoco_version": _version("mujoco"),
        "cnfrl_version": _version("cnfrl"),
    }
    return Transitions(**columns, metadata={**provenance, **(metadata or {})})


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
