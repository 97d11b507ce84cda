"""Transitions validate themselves, hash their content, and report episodes and statistics."""

import numpy as np
import pytest

from cnfrl import DatasetError, Transitions


def make(n: int = 6, **changes) -> Transitions:
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(n + 1, 4)).astype(np.float32)
    fields = dict(
        observations=observations[:-1],
        actions=rng.uniform(-1, 1, size=(n, 2)),
        rewards=np.arange(n, dtype=np.float32),
        next_observations=observations[1:],
        terminals=np.zeros(n, bool),
        timeouts=np.eye(1, n, n - 1, dtype=bool)[0],
        episode_ends=np.isin(np.arange(n), [2, n - 1]),
        metadata={"source": "toy.hdf5"},
    )
    fields.update(changes)
    return Transitions(**fields)


def test_canonical_dtypes_and_immutability():
    transitions = make()
    assert transitions.observations.dtype == np.float32
    assert transitions.actions.dtype == np.float32
    assert transitions.terminals.dtype == np.bool_
    with pytest.raises(ValueError):
        transitions.rewards[0] = 1.0


def test_episode_boundaries_returns_and_lengths():
    transitions = make()
    assert transitions.num_episodes == 2
    np.testing.assert_array_equal(transitions.episode_starts(), [0, 3])
    np.testing.assert_array_equal(transitions.episode_lengths(), [3, 3])
    np.testing.assert_allclose(transitions.episode_returns(), [0 + 1 + 2, 3 + 4 + 5])


def test_normalization_statistics():
    stats = make(n=50).normalization()
    normalized = stats.normalize(make(n=50).observations)
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(normalized.std(axis=0), 1, atol=1e-2)


def test_fingerprint_is_stable_and_content_sensitive():
    first, second = make(), make(metadata={"source": "elsewhere"})
    assert first.fingerprint == second.fingerprint
    changed = make(rewards=np.arange(6, dtype=np.float32) + 1e-3)
    assert changed.fingerprint != first.fingerprint
    assert len(first.fingerprint) == 32


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(actions=np.zeros((5, 2))), "different lengths"),
        (dict(rewards=np.array([0, 1, np.nan, 3, 4, 5], np.float32)), "NaN or infinite values (first at row 2)"),
        (dict(observations=np.full((6, 4), np.inf)), "'observations' holds 24 NaN or infinite"),
        (dict(actions=np.full((6, 2), 1.5)), "outside [-1, 1]"),
        (dict(observations=np.zeros(6)), "expected (transitions, dim)"),
        (dict(episode_ends=np.zeros(6, bool)), "last transition is not marked"),
    ],
)
def test_bad_arrays_give_one_line_messages(changes, message):
    with pytest.raises(DatasetError) as error:
        make(**changes)
    text = str(error.value)
    assert message in text
    assert text.startswith("toy.hdf5: ")
    assert "\n" not in text


def test_empty_dataset_is_rejected():
    empty = dict(
        observations=np.zeros((0, 4)),
        actions=np.zeros((0, 2)),
        rewards=np.zeros(0),
        next_observations=np.zeros((0, 4)),
        terminals=np.zeros(0),
        timeouts=np.zeros(0),
        episode_ends=np.zeros(0),
        metadata={"source": "empty.npz"},
    )
    with pytest.raises(DatasetError, match="no transitions"):
        Transitions(**empty)
