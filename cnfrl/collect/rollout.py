"""Step a Gymnasium environment under a policy and keep every transition, D4RL style."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from cnfrl.data.transitions import Transitions
from cnfrl.utils.progress import progress_bar

Policy = Callable[[Any], np.ndarray]


def uniform_random_policy(env: gym.Env, seed: int) -> Policy:
    """Uniform actions over the environment's action box: D4RL's `random` level."""
    space = env.action_space
    space.seed(seed)
    return lambda observation: space.sample()


def collect_transitions(
    env: gym.Env,
    policy: Policy,
    steps: int,
    seed: int,
    metadata: dict[str, Any] | None = None,
    episode_steps: int | None = None,
    show_progress: bool = True,
) -> Transitions:
    """Run `steps` environment steps of `policy` (which sees the raw observation) and keep flat transitions.

    By default an episode ends at a terminal or at the environment's time limit (a time-out, not a
    terminal) and the environment is reset. With `episode_steps` (D4RL's maze2d recipe) the environment is
    never reset: every `episode_steps` steps the episode is cut with a time-out and the trajectory goes on.
    The last episode, cut by the step budget, ends with a time-out. Same seed, same machine: same data.
    """
    space = env.observation_space
    dim = int(gym.spaces.flatdim(space))
    columns = {
        "observations": np.empty((steps, dim), np.float32),
        "next_observations": np.empty((steps, dim), np.float32),
        "actions": np.empty((steps, *(env.action_space.shape or ())), np.float32),
        "rewards": np.empty(steps, np.float32),
        "terminals": np.zeros(steps, bool),
        "timeouts": np.zeros(steps, bool),
        "episode_ends": np.zeros(steps, bool),
    }
    observation, _ = env.reset(seed=seed)
    episode_step = 0
    with progress_bar() as bar:
        task = bar.add_task(f"collect {env.spec.id if env.spec else 'env'}", total=steps, visible=show_progress)
        for step in range(steps):
            action = np.asarray(policy(observation), np.float32)
            next_observation, reward, terminated, truncated, _ = env.step(action)
            episode_step += 1
            if episode_steps is not None:
                truncated = episode_step >= episode_steps
            truncated = truncated or (step == steps - 1 and not terminated)
            columns["observations"][step] = gym.spaces.flatten(space, observation)
            columns["next_observations"][step] = gym.spaces.flatten(space, next_observation)
            columns["actions"][step] = action
            columns["rewards"][step] = reward
            columns["terminals"][step] = terminated
            columns["timeouts"][step] = truncated
            columns["episode_ends"][step] = terminated or truncated
            observation = next_observation
            if terminated or truncated:
                episode_step = 0
                if episode_steps is None or terminated:
                    observation, _ = env.reset()
            if step % 1000 == 0 or step == steps - 1:
                bar.update(task, completed=step + 1)
    provenance = {
        "env_id": env.spec.id if env.spec else None,
        "seed": seed,
        "gymnasium_version": gym.__version__,
        "mujoco_version": package_version("mujoco"),
        "cnfrl_version": package_version("cnfrl"),
    }
    return Transitions(**columns, metadata={**provenance, **(metadata or {})})


def package_version(package: str) -> str:
    """The installed version of a package, or 'unknown'."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
