"""Minari datasets made by Minari's own DataCollector read exactly, by directory or by id."""

import warnings
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
import pytest

from cnfrl import DatasetError, load_dataset
from cnfrl.data import write_d4rl, write_minari


def collect_with_minari(dataset_id: str, steps: int = 150, env_id: str = "Hopper-v5") -> "minari.MinariDataset":
    env = minari.DataCollector(gym.make(env_id, max_episode_steps=20))
    env.action_space.seed(1)
    episode = 0
    env.reset(seed=episode)
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            episode += 1
            env.reset(seed=episode)  # DataCollector draws a fresh random seed when none is given
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return env.create_dataset(dataset_id=dataset_id, algorithm_name="random", ref_min_score=1.0, ref_max_score=9.0)


def test_datacollector_dataset_reads_exactly(minari_path: Path):
    dataset = collect_with_minari("test/hopper/collector-v0")
    transitions = load_dataset("test/hopper/collector-v0")
    episodes = list(dataset.iterate_episodes())
    assert transitions.num_episodes == len(episodes)
    assert len(transitions) == sum(len(e.rewards) for e in episodes)
    first, last = episodes[0], episodes[-1]
    n = len(first.rewards)
    np.testing.assert_array_equal(transitions.observations[:n], first.observations[:-1].astype(np.float32))
    np.testing.assert_array_equal(transitions.next_observations[:n], first.observations[1:].astype(np.float32))
    np.testing.assert_array_equal(transitions.rewards[-len(last.rewards) :], last.rewards.astype(np.float32))
    np.testing.assert_array_equal(transitions.terminals[:n], first.terminations)
    np.testing.assert_array_equal(transitions.timeouts[:n], first.truncations)
    assert transitions.metadata["env_id"] == "Hopper-v5"
    assert transitions.metadata["ref_min_score"] == 1.0
    assert transitions.timeouts.any() and transitions.terminals.any()


def test_minari_to_d4rl_to_minari_is_exact(minari_path: Path, tmp_path: Path):
    collect_with_minari("test/hopper/collector-v0")
    original = load_dataset(minari_path / "test/hopper/collector-v0")
    via_d4rl = load_dataset(write_d4rl(original, tmp_path / "copy.hdf5"))
    assert via_d4rl.equals(original)
    back = load_dataset(write_minari(via_d4rl, "test/hopper/back-v0"))
    assert back.equals(original)
    assert back.metadata["ref_max_score"] == 9.0
    reopened = minari.load_dataset("test/hopper/back-v0")
    assert reopened.total_steps == len(original)


def test_directory_without_a_dataset(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="is a directory but not a Minari dataset"):
        load_dataset(tmp_path / "empty")


def test_writer_refuses_episodes_whose_observations_jump(tmp_path: Path):
    collect_with_minari("test/hopper/collector-v0")
    original = load_dataset("test/hopper/collector-v0")
    merged_ends = original.episode_ends.copy()
    merged_ends[np.flatnonzero(merged_ends)[0]] = False
    merged = original.replace(episode_ends=merged_ends)
    with pytest.raises(DatasetError, match="is not the next row's observation inside an episode"):
        write_minari(merged, "test/hopper/merged-v0")
    assert not (tmp_path / "minari" / "test/hopper/merged-v0").exists()


def test_dataset_id_needs_a_version(tmp_path: Path):
    collect_with_minari("test/hopper/collector-v0")
    with pytest.raises(DatasetError, match="not a Minari dataset id; use the form"):
        write_minari(load_dataset("test/hopper/collector-v0"), "test/hopper/noversion")


def test_relative_data_paths_write_and_read_where_they_point(minari_path: Path, tmp_path: Path, monkeypatch):
    """A relative MINARI_DATASETS_PATH or root is taken from the working directory, not doubled."""
    collect_with_minari("test/hopper/collector-v0")
    original = load_dataset("test/hopper/collector-v0")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", "relative-minari")
    written = write_minari(original, "test/hopper/relative-v0")
    assert written.resolve() == (tmp_path / "relative-minari/test/hopper/relative-v0").resolve()
    assert load_dataset("test/hopper/relative-v0").equals(original)
    elsewhere = write_minari(original, "test/hopper/rooted-v0", root=Path("my-root"))
    assert elsewhere.resolve() == (tmp_path / "my-root/test/hopper/rooted-v0").resolve()
