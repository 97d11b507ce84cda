"""Collection follows D4RL's conventions and is reproducible from its seed."""

import numpy as np

from cnfrl import load_dataset
from cnfrl.collect import collect_transitions, uniform_random_policy
from cnfrl.collect.recipes import collect_dataset


def test_same_seed_same_fingerprint(tmp_path):
    first = collect_dataset("hopper-random", steps=300, seed=5, root=tmp_path / "a", show_progress=False)
    second = collect_dataset("hopper-random", steps=300, seed=5, root=tmp_path / "b", show_progress=False)
    other = collect_dataset("hopper-random", steps=300, seed=6, root=tmp_path / "c", show_progress=False)
    assert load_dataset(first).fingerprint == load_dataset(second).fingerprint
    assert load_dataset(first).fingerprint != load_dataset(other).fingerprint


def test_time_limits_are_timeouts_not_terminals():
    transitions = collect_transitions("HalfCheetah-v5", uniform_random_policy, steps=2500, seed=0, show_progress=False)
    assert not transitions.terminals.any()
    np.testing.assert_array_equal(np.flatnonzero(transitions.timeouts), [999, 1999, 2499])
    np.testing.assert_array_equal(transitions.next_observations[:-1][~transitions.episode_ends[:-1]],
                                  transitions.observations[1:][~transitions.episode_ends[:-1]])


def test_metadata_records_the_recipe(tmp_path):
    transitions = load_dataset(collect_dataset("hopper-random", steps=200, seed=1, root=tmp_path, show_progress=False))
    meta = transitions.metadata
    assert (meta["env_id"], meta["recipe"], meta["seed"]) == ("Hopper-v5", "random", 1)
    assert meta["behaviour_return"] == np.float64(transitions.episode_returns().mean()).item()
    assert meta["mujoco_version"] != "unknown"
