"""Gymnasium environments as the rest of cnfrl sees them: ids, flat observation sizes and action bounds."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import gymnasium as gym
import numpy as np

from cnfrl.errors import CnfrlError


@dataclass(frozen=True)
class EnvShape:
    """The flat observation size and the action bounds of an environment."""

    env_id: str
    observation_dim: int
    action_low: np.ndarray
    action_high: np.ndarray


def is_registered(env_id: str | None) -> bool:
    """True when Gymnasium can make `env_id` (after importing the packages that register environments)."""
    if not env_id:
        return False
    _register_optional_envs()
    return env_id in gym.registry


def make_env(env_id: str, **kwargs) -> gym.Env:
    """`gym.make` for any id cnfrl knows (MuJoCo, PointMaze), without the warnings Gymnasium prints. A PointMaze
    writes its model to a file in the temporary folder and leaves it there; it is removed once the model is loaded,
    so evaluations (one environment per episode) leave nothing behind."""
    _register_optional_envs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = gym.make(env_id, **kwargs)
    model_file = getattr(env.unwrapped, "tmp_xml_file_path", None)
    if model_file:
        Path(model_file).unlink(missing_ok=True)
    return env


@cache
def env_shape(env_id: str) -> EnvShape:
    """Build the environment once to read its spaces; raise a one-line error for an unknown id."""
    if not is_registered(env_id):
        raise CnfrlError(f"{env_id}: not a registered Gymnasium environment; use an id such as Hopper-v5")
    env = make_env(env_id)
    try:
        action_space = env.action_space
        if not isinstance(action_space, gym.spaces.Box):
            raise CnfrlError(f"{env_id}: has {type(action_space).__name__} actions; cnfrl needs a Box action space")
        observation_dim = int(gym.spaces.flatdim(env.observation_space))
        return EnvShape(env_id, observation_dim, action_space.low.astype(np.float32), action_space.high.astype(np.float32))
    finally:
        env.close()


def _mujoco_warning(message: str) -> None:
    """MuJoCo's warnings as Python warnings instead of lines on stderr and a MUJOCO_LOG.TXT in the working
    directory; the deprecations Gymnasium's own model files trigger (HalfCheetah's settotalmass) are dropped."""
    if "is deprecated" not in message:
        warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)


@lru_cache(maxsize=1)
def _register_optional_envs() -> None:
    import mujoco

    mujoco.set_mju_user_warning(_mujoco_warning)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
