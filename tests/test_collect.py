"""Dataset generation: D4RL conventions, reproducibility, the recipes end to end on tiny budgets."""

import json
import re

import numpy as np
import pytest

from cnfrl import load_dataset
from cnfrl.collect import collect_transitions, uniform_random_policy
from cnfrl.collect.behaviour import PACKAGED_POLICIES, behaviour_policy, load_behaviour
from cnfrl.collect.recipes import collect_dataset
from cnfrl.data.builtin import MUJOCO_TASKS
from cnfrl.envs.make import make_env
from cnfrl.errors import CnfrlError


def test_same_seed_same_fingerprint(tmp_path):
    first = collect_dataset("hopper-random", steps=300, seed=5, root=tmp_path / "a", show_progress=False)
    second = collect_dataset("hopper-random", steps=300, seed=5, root=tmp_path / "b", show_progress=False)
    other = collect_dataset("hopper-random", steps=300, seed=6, root=tmp_path / "c", show_progress=False)
    assert load_dataset(first).fingerprint == load_dataset(second).fingerprint
    assert load_dataset(first).fingerprint != load_dataset(other).fingerprint


def test_time_limits_are_timeouts_not_terminals():
    env = make_env("HalfCheetah-v5")
    transitions = collect_transitions(env, uniform_random_policy(env, 0), steps=2500, seed=0, show_progress=False)
    assert not transitions.terminals.any()
    np.testing.assert_array_equal(np.flatnonzero(transitions.timeouts), [999, 1999, 2499])
    inside = ~transitions.episode_ends[:-1]
    np.testing.assert_array_equal(transitions.next_observations[:-1][inside], transitions.observations[1:][inside])


def test_metadata_records_the_recipe(tmp_path):
    transitions = load_dataset(collect_dataset("hopper-random", steps=200, seed=1, root=tmp_path, show_progress=False))
    meta = transitions.metadata
    assert (meta["env_id"], meta["recipe"], meta["seed"]) == ("Hopper-v5", "random", 1)
    assert meta["behaviour_return"] == pytest.approx(transitions.episode_returns().mean())
    assert meta["mujoco_version"] != "unknown"


PACKAGED_TASKS = sorted(path.parent.name for path in PACKAGED_POLICIES.glob("*/training.json"))


def test_every_mujoco_task_ships_its_behaviour_policies():
    assert set(MUJOCO_TASKS) <= set(PACKAGED_TASKS)


@pytest.mark.parametrize("task", PACKAGED_TASKS)
def test_packaged_behaviour_policies_act_on_their_environment(task, monkeypatch):
    monkeypatch.delenv("CNFRL_POLICY_DIR", raising=False)
    record = load_behaviour(task)
    env = make_env(record["env_id"])
    observation, _ = env.reset(seed=0)
    for which in ("medium", "expert"):
        action = behaviour_policy(task, which, seed=0)(observation)
        assert action.shape == env.action_space.shape
        assert np.all(np.abs(action) <= 1.0)
    assert record["ref_min_score"] < record["medium"]["eval_return"] < record["expert"]["eval_return"]


def test_levels_need_a_trained_behaviour_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("CNFRL_POLICY_DIR", str(tmp_path / "none"))
    with pytest.raises(CnfrlError, match="no trained behaviour policy .* run `cnfrl behaviour train walker2d` first"):
        collect_dataset("walker2d-medium", steps=10, root=tmp_path, show_progress=False)
    with pytest.raises(CnfrlError, match="not a built-in dataset name"):
        collect_dataset("pendulum-random", steps=10, root=tmp_path)


def test_every_level_from_a_tiny_behaviour_run(tmp_path, monkeypatch):
    from cnfrl.collect.behaviour import train_behaviour
    from cnfrl.collect.sac import SACConfig

    monkeypatch.setenv("CNFRL_POLICY_DIR", str(tmp_path / "policies"))
    monkeypatch.setenv("CNFRL_CACHE", str(tmp_path / "cache"))
    config = SACConfig(hidden=(32, 32), learning_starts=300, update_every=50, eval_every=400, eval_episodes=2)
    record = train_behaviour(
        "hopper", "Hopper-v5", 1200, seed=0, medium_return=50.0, config=config, command="test", show_progress=False
    )
    assert [c[0] for c in record["checkpoints"]] == [400, 800, 1200]
    assert json.loads((tmp_path / "policies/hopper/training.json").read_text())["medium"]["step"] == record["medium"]["step"]
    root = tmp_path / "minari"
    sizes = {}
    for level in ("random", "medium", "expert", "medium-expert", "medium-replay"):
        data = load_dataset(collect_dataset(f"hopper-{level}", steps=150, root=root, show_progress=False))
        assert data.metadata["ref_min_score"] == record["ref_min_score"]
        assert data.metadata["ref_max_score"] == record["ref_max_score"]
        sizes[level] = len(data)
    assert sizes["random"] == sizes["medium"] == sizes["expert"] == 150
    assert sizes["medium-expert"] == 300
    assert sizes["medium-replay"] == record["medium"]["step"]
    expert = (tmp_path / "policies/hopper/expert.npz").read_bytes()
    with pytest.raises(CnfrlError, match="holds hopper's behaviour policies already .* or --overwrite to replace them"):
        train_behaviour("hopper", "Hopper-v5", 1200, config=config, show_progress=False)
    assert (tmp_path / "policies/hopper/expert.npz").read_bytes() == expert
    assert_replay_is_remade_without_its_cache(tmp_path)


def assert_replay_is_remade_without_its_cache(root):
    """A machine that has the packaged policies but not the behaviour run's buffer re-makes the same medium-replay,
    and says so where its re-run does not repeat the recorded evaluations."""
    import warnings

    from cnfrl.collect.behaviour import medium_replay

    cached, training = root / "cache/behaviour/hopper/replay.npz", root / "policies/hopper/training.json"
    original = medium_replay("hopper", show_progress=False)
    assert original["timeouts"][-1] or original["terminals"][-1]
    cached.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        remade = medium_replay("hopper", show_progress=False)
    assert not cached.exists() and (cached.parent / "medium_replay.npz").is_file()
    assert remade.keys() == original.keys()
    for key, value in original.items():
        np.testing.assert_array_equal(remade[key], value, err_msg=key)
    record = json.loads(training.read_text())
    record["checkpoints"] = [[step, value + 100.0, std] for step, value, std in record["checkpoints"]]
    record["medium_target_return"] = 1e4
    training.write_text(json.dumps(record))
    (cached.parent / "medium_replay.npz").unlink()
    with pytest.warns(UserWarning) as caught:
        unreached = medium_replay("hopper", show_progress=False)
    messages = " | ".join(str(w.message) for w in caught)
    assert "this re-run of the behaviour training differs from the recorded one" in messages
    assert "never evaluated within 10% of the medium return 10000 in its" in messages
    assert "its medium-replay ends there, below the medium level" in messages
    closest_step = int(re.search(r"at step (\d+)\); its medium-replay ends there", messages).group(1))
    assert len(unreached["rewards"]) == closest_step


def test_collect_checks_its_destination_before_collecting(tmp_path, monkeypatch):
    import cnfrl.collect.recipes as recipes

    monkeypatch.setattr(recipes, "_collect_mujoco", lambda *args: pytest.fail("collected before checking the destination"))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(
        CnfrlError, match=r"a-file/.*cannot be written to \(a file stands where a folder is needed\); choose another --root"
    ):
        recipes.collect_dataset("hopper-random", steps=10, root=blocker / "datasets")
    assert list(tmp_path.iterdir()) == [blocker]
