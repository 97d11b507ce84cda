"""Flat (D4RL-layout) arrays to Transitions and back: the layout shared by D4RL HDF5 and NPZ files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from cnfrl.data.transitions import Transitions, check_lengths
from cnfrl.errors import dataset_error

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
FLAT_KEYS = REQUIRED_KEYS + ("timeouts", "next_observations", "episode_ends")


def require_keys(available: Any, source: object) -> None:
    """Raise a one-line error naming the first required D4RL key the file lacks."""
    for key in REQUIRED_KEYS:
        if key not in available:
            raise dataset_error(
                source,
                f"required key '{key}' is missing (found: {', '.join(sorted(available)) or 'nothing'})",
                f"a D4RL-layout dataset needs {', '.join(REQUIRED_KEYS)} (timeouts, next_observations optional)",
            )


def transitions_from_flat(arrays: Mapping[str, np.ndarray | None], metadata: Mapping[str, Any], source: object) -> Transitions:
    """Build Transitions from D4RL-layout arrays, deriving what the file does not store.

    Without `next_observations`, the next state of row i is row i+1 of the same episode, as D4RL's
    `qlearning_dataset` does: a time-out row has no known next state and is dropped (its predecessor
    becomes the episode's last row, marked as a time-out), a terminal row is kept with its own
    observation as a placeholder next state (never bootstrapped), and no row is ever paired with the
    first state of the following episode. Without `episode_ends`, an episode ends at a terminal, a
    time-out, the last row, or wherever next_observations[i] differs from observations[i + 1].
    """
    check_lengths(arrays, source)
    observations = arrays["observations"]
    assert observations is not None, "check_lengths requires observations"
    n = len(observations)
    if n == 0:
        raise dataset_error(source, "the dataset holds no transitions", "point to a file with at least one step")
    observations = np.asarray(arrays["observations"])
    if observations.ndim != 2:
        raise dataset_error(
            source,
            f"'observations' has shape {observations.shape}, expected (transitions, dim)",
            "store one flat vector per transition",
        )
    terminals = np.asarray(arrays["terminals"]).astype(bool).reshape(-1)
    timeouts = arrays.get("timeouts")
    timeouts = np.zeros(n, bool) if timeouts is None else np.asarray(timeouts).astype(bool).reshape(-1)
    next_observations = arrays.get("next_observations")
    episode_ends = arrays.get("episode_ends")
    keep = np.ones(n, bool)
    if next_observations is None:
        next_observations, keep, timeouts = _derive_next_observations(observations, terminals, timeouts)
        episode_ends = None
        if not keep.any():
            raise dataset_error(
                source, "no row has a known next state (all are time-outs)", "store next_observations in the file"
            )
    next_observations = np.asarray(next_observations)[keep]
    if episode_ends is None:
        episode_ends = _infer_episode_ends(observations[keep], next_observations, terminals[keep], timeouts[keep])
    return Transitions(
        observations=observations[keep],
        actions=np.asarray(arrays["actions"])[keep],
        rewards=np.asarray(arrays["rewards"]).reshape(n, -1)[keep],
        next_observations=next_observations,
        terminals=terminals[keep],
        timeouts=timeouts[keep],
        episode_ends=episode_ends,
        metadata={**metadata, "source": str(source)},
    )


def _derive_next_observations(
    observations: np.ndarray, terminals: np.ndarray, timeouts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(observations)
    next_observations = np.empty_like(observations)
    next_observations[:-1] = observations[1:]
    next_observations[-1] = observations[-1]
    next_observations[terminals] = observations[terminals]
    keep = ~timeouts & ~(~terminals & (np.arange(n) == n - 1))
    dropped = np.flatnonzero(~keep)
    timeouts = timeouts.copy()
    predecessors = dropped[dropped > 0] - 1
    predecessors = predecessors[keep[predecessors]]
    timeouts[predecessors] = ~terminals[predecessors]
    return next_observations, keep, timeouts


def _infer_episode_ends(
    observations: np.ndarray, next_observations: np.ndarray, terminals: np.ndarray, timeouts: np.ndarray
) -> np.ndarray:
    discontinuous = np.zeros(len(observations), bool)
    discontinuous[:-1] = np.any(next_observations[:-1] != observations[1:], axis=1)
    ends = terminals | timeouts | discontinuous
    ends[-1] = True
    return ends


class RawDataset(NamedTuple):
    """What a reader found in a file: D4RL-layout arrays (some optional) and the file's metadata."""

    arrays: dict[str, np.ndarray]
    metadata: dict[str, Any]
