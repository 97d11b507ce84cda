"""D4RL HDF5: read as D4RL ships them, next states derived as qlearning_dataset does, written back exactly."""

from pathlib import Path

import numpy as np
import pytest
from conftest import episode_arrays, write_d4rl_layout

from cnfrl import DatasetError, load_dataset
from cnfrl.data import write_d4rl, write_minari, write_npz


def test_next_observations_never_cross_episodes(tmp_path: Path):
    arrays = episode_arrays([4, 3, 5, 2], ["timeout", "terminal", "timeout", "none"])
    transitions = load_dataset(write_d4rl_layout(tmp_path / "raw.hdf5", arrays))
    obs = arrays["observations"]
    # Time-out rows (3 and 11) and the final non-terminal row (13) have no known next state: dropped.
    kept = [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 12]
    np.testing.assert_array_equal(transitions.observations, obs[kept])
    np.testing.assert_array_equal(transitions.actions, arrays["actions"][kept])
    # Inside an episode the next state is the following row; the terminal row keeps itself as placeholder.
    np.testing.assert_array_equal(transitions.next_observations[:3], obs[1:4])
    np.testing.assert_array_equal(transitions.next_observations[5], obs[6])
    assert transitions.terminals[5] and not transitions.timeouts[5]
    first_of_next_episode = {tuple(obs[i]) for i in (4, 7, 12)}
    for row, end in enumerate(transitions.episode_ends):
        if end:
            assert tuple(transitions.next_observations[row]) not in first_of_next_episode
    np.testing.assert_array_equal(np.flatnonzero(transitions.episode_ends), [2, 5, 9, 10])
    np.testing.assert_array_equal(np.flatnonzero(transitions.timeouts), [2, 9, 10])


def test_stored_next_observations_are_used_as_is(tmp_path: Path):
    arrays = episode_arrays([3, 3], ["timeout", "timeout"])
    arrays["next_observations"] = np.roll(arrays["observations"], -1, axis=0)
    transitions = load_dataset(write_d4rl_layout(tmp_path / "full.hdf5", arrays))
    assert len(transitions) == 6
    np.testing.assert_array_equal(transitions.next_observations, arrays["next_observations"])
    assert transitions.num_episodes == 2


def test_metadata_scalars_are_read_and_unused_keys_listed(tmp_path: Path):
    arrays = episode_arrays([5], ["timeout"])
    path = write_d4rl_layout(tmp_path / "meta.hdf5", arrays, {"algorithm": "SAC", "iteration": 7})
    transitions = load_dataset(path)
    assert transitions.metadata["algorithm"] == "SAC"
    assert transitions.metadata["iteration"] == 7
    assert transitions.metadata["unused_keys"] == ["infos/qpos", "metadata/policy/fc0/weight"]


def test_round_trip_d4rl_minari_npz_is_exact(tmp_path: Path):
    arrays = episode_arrays([40, 25, 30], ["timeout", "terminal", "timeout"])
    arrays["next_observations"] = np.roll(arrays["observations"], -1, axis=0)
    path = write_d4rl_layout(
        tmp_path / "source.hdf5", arrays, {"env_id": "Hopper-v5", "ref_min_score": -20.0, "ref_max_score": 3000.0}
    )
    original = load_dataset(path)
    minari_dir = write_minari(original, "test/hopper/roundtrip-v0", root=tmp_path / "m")
    from_minari = load_dataset(minari_dir)
    assert from_minari.equals(original)
    assert from_minari.fingerprint == original.fingerprint
    assert from_minari.metadata["ref_min_score"] == -20.0
    assert from_minari.metadata["env_id"] == "Hopper-v5"
    again = load_dataset(write_d4rl(from_minari, tmp_path / "again.hdf5"))
    assert again.equals(original)
    assert again.metadata["ref_max_score"] == 3000.0
    from_npz = load_dataset(write_npz(original, tmp_path / "copy.npz"))
    assert from_npz.equals(original)
    assert from_npz.metadata["env_id"] == "Hopper-v5"


def test_writers_refuse_to_overwrite_unless_asked(tmp_path: Path):
    transitions = load_dataset(write_d4rl_layout(tmp_path / "a.hdf5", episode_arrays([5], ["timeout"])))
    target = write_d4rl(transitions, tmp_path / "out.hdf5")
    with pytest.raises(DatasetError, match="already exists; pass overwrite=True"):
        write_d4rl(transitions, target)
    with pytest.raises(DatasetError, match="already exists"):
        write_npz(transitions, write_npz(transitions, tmp_path / "out.npz"))
    root = tmp_path / "m"
    write_minari(transitions, "test/x-v0", root=root)
    with pytest.raises(DatasetError, match="already exists"):
        write_minari(transitions, "test/x-v0", root=root)
    write_d4rl(transitions, target, overwrite=True)
    write_minari(transitions, "test/x-v0", root=root, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_missing_file(tmp_path: Path):
    with pytest.raises(DatasetError, match=r"missing\.hdf5: no such file; check the path"):
        load_dataset(tmp_path / "missing.hdf5")


def test_file_that_is_not_hdf5(tmp_path: Path):
    path = tmp_path / "text.hdf5"
    path.write_text("not a dataset")
    with pytest.raises(DatasetError, match="is not a readable HDF5 file"):
        load_dataset(path)


def test_missing_required_key(tmp_path: Path):
    arrays = episode_arrays([5], ["timeout"])
    del arrays["rewards"]
    with pytest.raises(DatasetError, match="required key 'rewards' is missing"):
        load_dataset(write_d4rl_layout(tmp_path / "norewards.hdf5", arrays))


def test_arrays_of_different_lengths(tmp_path: Path):
    arrays = episode_arrays([5], ["timeout"])
    arrays["actions"] = arrays["actions"][:-1]
    with pytest.raises(DatasetError, match=r"different lengths \(observations 5, actions 4"):
        load_dataset(write_d4rl_layout(tmp_path / "ragged.hdf5", arrays))


def test_nan_and_inf(tmp_path: Path):
    arrays = episode_arrays([6], ["timeout"])
    arrays["observations"][2, 1] = np.nan
    with pytest.raises(DatasetError, match="'observations' holds 1 NaN or infinite values"):
        load_dataset(write_d4rl_layout(tmp_path / "nan.hdf5", arrays))
    arrays = episode_arrays([6], ["timeout"])
    arrays["rewards"][0] = np.inf
    with pytest.raises(DatasetError, match="'rewards' holds 1 NaN or infinite values"):
        load_dataset(write_d4rl_layout(tmp_path / "inf.hdf5", arrays))


def test_empty_dataset(tmp_path: Path):
    arrays = {key: value[:0] for key, value in episode_arrays([3], ["timeout"]).items()}
    with pytest.raises(DatasetError, match="holds no transitions"):
        load_dataset(write_d4rl_layout(tmp_path / "empty.hdf5", arrays))


def test_actions_outside_the_box_error_by_default_and_rescale_on_request(tmp_path: Path):
    arrays = episode_arrays([6], ["timeout"], obs_dim=17, act_dim=6)
    arrays["actions"] = arrays["actions"] * 2.0
    path = write_d4rl_layout(tmp_path / "wide.hdf5", arrays)
    with pytest.raises(DatasetError, match=r"outside \[-1, 1\].*--rescale-actions"):
        load_dataset(path)
    with pytest.raises(DatasetError, match="needs the environment's bounds; pass --env"):
        load_dataset(path, rescale_actions=True)
    for rescale in (False, True):  # HalfCheetah's own bounds are [-1, 1]: no advice to rescale
        with pytest.raises(DatasetError, match=r"HalfCheetah-v5's own bounds.*rescaling cannot fix that: clip the actions"):
            load_dataset(path, env_id="HalfCheetah-v5", rescale_actions=rescale)
    from cnfrl.envs.make import env_shape

    bounds = env_shape("HalfCheetah-v5")
    arrays["actions"] = np.clip(arrays["actions"], bounds.action_low, bounds.action_high)
    path = write_d4rl_layout(tmp_path / "bounded.hdf5", arrays)
    rescaled = load_dataset(path, env_id="HalfCheetah-v5", rescale_actions=True)
    expected = 2 * (arrays["actions"][:5] - bounds.action_low) / (bounds.action_high - bounds.action_low) - 1
    np.testing.assert_allclose(rescaled.actions, expected, atol=1e-6)


def test_observation_dim_must_match_the_environment(tmp_path: Path):
    arrays = episode_arrays([6], ["timeout"], obs_dim=7)
    path = write_d4rl_layout(tmp_path / "small.hdf5", arrays, {"env_id": "Hopper-v5"})
    with pytest.raises(DatasetError, match="observations have 7 dimensions but Hopper-v5 has 11; pass the environment"):
        load_dataset(path)
    with pytest.raises(DatasetError, match="observations have 7 dimensions but Walker2d-v5 has 17"):
        load_dataset(write_d4rl_layout(tmp_path / "plain.hdf5", arrays), env_id="Walker2d-v5")
