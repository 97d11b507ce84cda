"""Shared fixtures: datasets the tests write themselves, and an isolated Minari data path."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest

# One JAX compilation cache for the session and the commands its tests start: many tests and subprocesses compile
# the same programs, and a cache hit skips the compile. The folder is new each session and removed after it, so no
# program compiled on another machine is loaded. A folder the caller set in JAX_COMPILATION_CACHE_DIR is used as it is.
SESSION_JAX_CACHE = None if "JAX_COMPILATION_CACHE_DIR" in os.environ else tempfile.mkdtemp(prefix="cnfrl-jax-")
if SESSION_JAX_CACHE:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = SESSION_JAX_CACHE
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the session's compilation cache (not one the caller chose)."""
    if SESSION_JAX_CACHE:
        shutil.rmtree(SESSION_JAX_CACHE, ignore_errors=True)


@pytest.fixture(autouse=True)
def minari_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty Minari data path, so none touches ~/.minari."""
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def episode_arrays(
    lengths: list[int], ends: list[str], obs_dim: int = 11, act_dim: int = 3, seed: int = 0
) -> dict[str, np.ndarray]:
    """D4RL-layout arrays for episodes of the given lengths, each ended by 'terminal', 'timeout' or 'none'.

    Observations inside an episode are continuous (row i+1 is the next state of row i), as in real data.
    """
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    terminals, timeouts = np.zeros(n, bool), np.zeros(n, bool)
    position = 0
    for length, end in zip(lengths, ends, strict=True):
        position += length
        terminals[position - 1] = end == "terminal"
        timeouts[position - 1] = end == "timeout"
    return {
        "observations": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, act_dim)).astype(np.float32),
        "rewards": rng.normal(size=n).astype(np.float32),
        "terminals": terminals,
        "timeouts": timeouts,
    }


def write_d4rl_layout(path: Path, arrays: dict[str, np.ndarray], metadata: dict | None = None) -> Path:
    """Write a file the way D4RL ships them: top-level arrays, infos/*, metadata/* scalars."""
    with h5py.File(path, "w") as handle:
        for key, value in arrays.items():
            handle.create_dataset(key, data=value)
        handle.create_dataset("infos/qpos", data=np.zeros((len(arrays["observations"]), 6), np.float32))
        for key, value in (metadata or {}).items():
            handle.create_dataset(f"metadata/{key}", data=value)
        handle.create_dataset("metadata/policy/fc0/weight", data=np.zeros((4, 4), np.float32))
    return path
