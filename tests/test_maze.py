"""maze2d: the waypoint controller reaches its goals; datasets are long, continuous, cut by time-outs."""

import tempfile
from pathlib import Path

import numpy as np
import pytest

from cnfrl import load_dataset
from cnfrl.collect.maze import goal_success_rate
from cnfrl.collect.recipes import collect_dataset
from cnfrl.data.summary import summarize
from cnfrl.envs.make import make_env


@pytest.mark.parametrize("maze", ["umaze", "medium"])
def test_controller_reaches_90_percent_of_goals_with_action_noise(maze):
    rate, mean_steps = goal_success_rate(maze, noise=0.5, goals=60, seed=3)
    assert rate >= 0.9
    assert mean_steps < 300


def test_maze_dataset_is_one_trajectory_cut_into_timeouts(tmp_path):
    data = load_dataset(collect_dataset("maze2d-umaze-dense", steps=700, seed=0, root=tmp_path, show_progress=False))
    assert data.metadata["env_id"] == "PointMaze_UMazeDense-v3"
    assert data.metadata["reward"] == "dense"
    assert data.metadata["ref_max_score"] > data.metadata["ref_min_score"]
    np.testing.assert_array_equal(np.flatnonzero(data.timeouts), [299, 599, 699])
    assert not data.terminals.any()
    # No reset at a time-out: the trajectory continues into the next episode.
    np.testing.assert_array_equal(data.next_observations[:-1], data.observations[1:])
    assert np.all((data.rewards > 0) & (data.rewards <= 1))


def test_sparse_maze_rewards_goal_arrivals(tmp_path):
    data = load_dataset(collect_dataset("maze2d-umaze", steps=1200, seed=0, root=tmp_path, show_progress=False))
    assert set(np.unique(data.rewards)) <= {0.0, 1.0}
    assert data.rewards.sum() >= 10
    summary = summarize(data, "maze2d-umaze")
    assert summary["ref_max_score"] > summary["ref_min_score"] and summary["normalized_return_mean"] is None
    assert "re-draws its goal on arrival" in summary["normalized_return_note"]
    assert summarize(data, "d4rl/maze2d-umaze-v1")["normalized_return_mean"] is None


def test_a_point_maze_leaves_no_model_file_behind():
    """Gymnasium-Robotics writes each PointMaze's model to the temporary folder; evaluations make one environment
    per episode, so a file left per environment would pile up there."""
    env = make_env("PointMaze_UMaze-v3")
    try:
        model_file = Path(env.unwrapped.tmp_xml_file_path)
        assert model_file.parent == Path(tempfile.gettempdir()) and not model_file.exists()
        env.reset(seed=0)
        assert np.isfinite(env.step(env.action_space.sample())[0]["observation"]).all()
    finally:
        env.close()
