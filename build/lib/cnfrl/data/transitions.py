"""Transitions: the one validated container of offline-RL arrays that every later stage reads."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from cnfrl.errors import dataset_error

ARRAY_FIELDS = (
    "observations",
    "actions",
    "rewards",
    "next_observations",
    "terminals",
    "timeouts",
    "episode_ends",
)
FLOAT_FIELDS = ("observations", "actions", "rewards", "next_observations")
FLAG_FIELDS = ("terminals", "timeouts", "episode_ends")
MATRIX_FIELDS = ("observations", "actions", "next_observations")
ACTION_BOUND = 1.0


@dataclass(frozen=True)
class NormalizationStats:
    """Per-dimension observation mean and std, used to normalise states before any network sees them."""

    mean: np.ndarray
    std: np.ndarray

    def normalize(self, observations: np.ndarray) -> np.ndarray:
        """Map raw observations to zero mean and unit variance under the dataset's statistics."""
        return (observations - self.mean) / self.std


@dataclass(frozen=True, eq=False)
class Transitions:
    """One row per transition (s, a, r, s', terminal, timeout), plus where each episode ends.

    `terminals` marks true terminal states (no bootstrapping); `timeouts` marks episodes cut by a time
    limit (the critic still bootstraps); `episode_ends` marks the last row of every episode, whatever ended
    it. Arrays are float32 / bool, validated on construction, and never modified afterwards.
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray
    episode_ends: np.ndarray
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in FLOAT_FIELDS:
            object.__setattr__(self, name, _as_readonly(getattr(self, name), np.float32))
        for name in FLAG_FIELDS:
            object.__setattr__(self, name, _as_readonly(getattr(self, name), np.bool_))
        if self.rewards.ndim == 2 and self.rewards.shape[1] == 1:
            object.__setattr__(self, "rewards", self.rewards[:, 0])
        object.__setattr__(self, "metadata", dict(self.metadata))
        self._validate()

    @property
    def source(self) -> str:
        """Where the data came from (a path or dataset id), used to prefix error messages."""
        return str(self.metadata.get("source", "dataset"))

    def _validate(self) -> None:
        source = self.source
        for name in MATRIX_FIELDS:
            if getattr(self, name).ndim != 2:
                raise dataset_error(
                    source,
                    f"'{name}' has shape {getattr(self, name).shape}, expected (transitions, dim)",
                    "store one flat vector per transition",
                )
        for name in ("rewards",) + FLAG_FIELDS:
            if getattr(self, name).ndim != 1:
                raise dataset_error(
                    source,
                    f"'{name}' has shape {getattr(self, name).shape}, expected (transitions,)",
                    "store one scalar per transition",
                )
        check_lengths({name: getattr(self, name) for name in ARRAY_FIELDS}, source)
        if len(self.observations) == 0:
            raise dataset_error(source, "the dataset holds no transitions", "point to a file with at least one step")
        if self.observations.shape[1] != self.next_observations.shape[1]:
            raise dataset_error(
                source,
                f"observations have dim {self.observations.shape[1]} but next_observations {self.next_observations.shape[1]}",
                "both must come from the same observation space",
            )
        for name in FLOAT_FIELDS:
            bad = ~np.isfinite(getattr(self, name))
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                raise dataset_error(
                    source,
                    f"'{name}' holds {int(bad.sum())} NaN or infinite values (first at row {row})",
                    "remove or repair those rows before loading",
                )
        low, high = float(self.actions.min()), float(self.actions.max())
        if low < -ACTION_BOUND or high > ACTION_BOUND:
            raise dataset_error(
                source,
                f"actions lie outside [-1, 1] (min {low:.4g}, max {high:.4g})",
                "pass rescale_actions=True (CLI: --rescale-actions) to rescale them from the environment's action bounds",
            )
        if not self.episode_ends[-1]:
            raise dataset_error(source, "the last transition is not marked as an episode end", "set episode_ends[-1] = True")

    def __len__(self) -> int:
        return len(self.observations)

    @property
    def observation_dim(self) -> int:
        """Size of one flat observation vector."""
        return self.observations.shape[1]

    @property
    def action_dim(self) -> int:
        """Size of one action vector."""
        return self.actions.shape[1]

    @property
    def num_episodes(self) -> int:
        """Number of episodes (stretches of rows ended by `episode_ends`)."""
        return int(self.episode_ends.sum())

    def arrays(self) -> dict[str, np.ndarray]:
        """All arrays by field name, for writers and for building device-resident copies."""
        return {name: getattr(self, name) for name in ARRAY_FIELDS}

    def replace(self, **changes: Any) -> Transitions:
        """A new, re-validated Transitions with some fields changed."""
        return dataclasses.replace(self, **changes)

    def episode_starts(self) -> np.ndarray:
        """Index of the first row of every episode."""
        return np.concatenate([[0], np.flatnonzero(self.episode_ends[:-1]) + 1])

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of every episode, in float64 so long episodes do not lose precision."""
        return np.add.reduceat(self.rewards.astype(np.float64), self.episode_starts())

    def episode_lengths(self) -> np.ndarray:
        """Number of transitions in every episode."""
        return np.diff(np.append(self.episode_starts(), len(self)))

    def normalization(self, eps: float = 1e-3) -> NormalizationStats:
        """Observation mean and std over the dataset; `eps` keeps constant dimensions from dividing by 0."""
        observations = self.observations.astype(np.float64)
        return NormalizationStats(
            mean=observations.mean(axis=0).astype(np.float32),
            std=(observations.std(axis=0) + eps).astype(np.float32),
        )

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the arrays' content, shapes and dtypes (not the metadata): a cache key for later stages."""
        digest = hashlib.blake2b(digest_size=16)
        for name in ARRAY_FIELDS:
            array = getattr(self, name)
            digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
            digest.update(array.tobytes())
        return digest.hexdigest()

    def equals(self, other: Transitions) -> bool:
        """True when both hold exactly the same arrays (bit for bit); metadata is not compared."""
        return all(np.array_equal(getattr(self, n), getattr(other, n)) for n in ARRAY_FIELDS)


def check_lengths(arrays: Mapping[str, np.ndarray | None], source: object) -> None:
    """Reject arrays of different lengths (before any derivation could hide or misalign rows)."""
    lengths = {key: len(value) for key, value in arrays.items() if value is not None}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{key} {n}" for key, n in lengths.items())
        raise dataset_error(source, f"arrays have different lengths ({listed})", "every array needs one row per transition")


def _as_readonly(value: Any, dtype: type) -> np.ndarray:
    array: np.ndarray = np.array(value, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array


def concatenate(parts: list[Transitions], metadata: Mapping[str, Any]) -> Transitions:
    """Several datasets one after another (episodes stay whole), e.g. D4RL's medium-expert."""
    return Transitions(
        **{name: np.concatenate([getattr(part, name) for part in parts]) for name in ARRAY_FIELDS},
        metadata=metadata,
    )
