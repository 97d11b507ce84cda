"""Policy evaluation in the environment: N episodes stepped in lockstep, batched policy calls, normalised score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np

from cnfrl.envs import make_env
from cnfrl.reference_scores import ReferenceScores


@dataclass(frozen=True)
class EvalResult:
    """Episode returns and lengths and, when reference returns are known, the D4RL normalised scores.

    The length tells a policy that falls early from one that survives the whole episode without moving.
    """

    returns: np.ndarray
    lengths: np.ndarray
    normalized: np.ndarray | None

    def summary(self) -> dict[str, float]:
        """Mean and std of return and of normalised score, mean length, as JSON-able floats."""
        out = {"return_mean": float(self.returns.mean()), "return_std": float(self.returns.std()), "length_mean": float(self.lengths.mean())}
        if self.normalized is not None:
            out.update(score_mean=float(self.normalized.mean()), score_std=float(self.normalized.std()))
        return out


def evaluate(
    act: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    episodes: int,
    seed: int,
    references: ReferenceScores | None = None,
) -> EvalResult:
    """Run `episodes` full episodes of a batched policy (flat observations in, actions out) on `env_id`."""
    envs = [make_env(env_id) for _ in range(episodes)]
    space = envs[0].observation_space
    observations = np.stack([gym.spaces.flatten(space, env.reset(seed=seed + i)[0]) for i, env in enumerate(envs)])
    returns, lengths = np.zeros(episodes), np.zeros(episodes, int)
    running = np.ones(episodes, bool)
    while running.any():
        actions = np.asarray(act(observations.astype(np.float32)))
        for i in np.flatnonzero(running):
            observation, reward, terminated, truncated, _ = envs[i].step(actions[i])
            observations[i] = gym.spaces.flatten(space, observation)
            returns[i] += reward
            lengths[i] += 1
            running[i] = not (terminated or truncated)
    for env in envs:
        env.close()
    normalized = None if references is None else np.array([references.normalize(r) for r in returns])
    return EvalResult(returns, lengths, normalized)
