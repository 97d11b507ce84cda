"""Policy evaluation in the environment: N episodes stepped in lockstep, batched policy calls, normalised score."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from cnfrl.envs.make import make_env
from cnfrl.envs.reference_scores import ReferenceScores


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
        out = {
            "return_mean": float(self.returns.mean()),
            "return_std": float(self.returns.std()),
            "length_mean": float(self.lengths.mean()),
        }
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
    """Run `episodes` full episodes of a batched policy (flat observations in, actions out) on `env_id`, in
    lockstep: one policy call per step for all of them."""
    envs = [make_env(env_id) for _ in range(episodes)]
    space = envs[0].observation_space
    flat = lambda observations: np.stack([np.asarray(gym.spaces.flatten(space, o)) for o in observations]).astype(np.float32)
    returns, lengths = run_episodes(
        envs, lambda observations: np.asarray(act(flat(observations))), [seed + i for i in range(episodes)]
    )
    for env in envs:
        env.close()
    normalized = None if references is None else np.array([references.score(r) for r in returns])
    return EvalResult(returns, lengths, normalized)


def evaluate_policy(env: gym.Env, policy: Callable[[Any], np.ndarray], episodes: int, seed: int) -> np.ndarray:
    """Undiscounted returns of `episodes` episodes, one after the other, of a policy that takes one raw
    observation at a time and may keep state between calls (a scripted controller, a sampling actor)."""
    act = lambda observations: [policy(observations[0])]
    return np.array([run_episodes([env], act, [seed + episode])[0][0] for episode in range(episodes)])


def run_episodes(envs: list[gym.Env], act: Callable[[list[Any]], Any], seeds: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The episode loop every evaluation uses: reset each env with its seed, then step them together, one call
    of `act` (every env's latest raw observation -> one action per env) per step, until each has terminated or
    been truncated. Returns the undiscounted return and the length of each env's episode."""
    observations = [env.reset(seed=seed)[0] for env, seed in zip(envs, seeds, strict=True)]
    returns, lengths = np.zeros(len(envs)), np.zeros(len(envs), int)
    running = np.ones(len(envs), bool)
    while running.any():
        actions = act(observations)
        for i in np.flatnonzero(running):
            observations[i], reward, terminated, truncated, _ = envs[i].step(actions[i])
            returns[i] += reward
            lengths[i] += 1
            running[i] = not (terminated or truncated)
    return returns, lengths
