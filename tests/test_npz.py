"""NPZ files with the D4RL keys: same derivation as HDF5, same errors, exact round trip."""

from pathlib import Path

import numpy as np
import pytest
from conftest import episode_arrays, write_d4rl_layout

from cnfrl import DatasetError, load_dataset
from cnfrl.data import write_npz


def test_plain_npz_matches_the_same_hdf5(tmp_path: Path):
    arrays = episode_arrays([5, 4], ["terminal", "timeout"])
    np.savez(tmp_path / "plain.npz", **arrays, extra=np.zeros(3))
    from_npz = load_dataset(tmp_path / "plain.npz")
    from_hdf5 = load_dataset(write_d4rl_layout(tmp_path / "same.hdf5", arrays))
    assert from_npz.equals(from_hdf5)
    assert from_npz.metadata["unused_keys"] == ["extra"]


def test_round_trip_keeps_arrays_and_metadata(tmp_path: Path):
    arrays = episode_arrays([6, 6], ["timeout", "timeout"])
    original = load_dataset(write_d4rl_layout(tmp_path / "a.hdf5", arrays, {"env_id": "Hopper-v5"}))
    copy = load_dataset(write_npz(original, tmp_path / "a.npz"))
    assert copy.equals(original)
    assert copy.metadata["env_id"] == "Hopper-v5"


def test_file_that_is_not_npz(tmp_path: Path):
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="bad.npz: is not a readable .npz file"):
        load_dataset(tmp_path / "bad.npz")


def test_missing_required_key(tmp_path: Path):
    arrays = episode_arrays([4], ["timeout"])
    del arrays["terminals"]
    np.savez(tmp_path / "noterm.npz", **arrays)
    with pytest.raises(DatasetError, match="required key 'terminals' is missing"):
        load_dataset(tmp_path / "noterm.npz")
