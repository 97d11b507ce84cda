"""One resolver: a path, a built-in name or a Minari id, each with a helpful message when absent."""

from pathlib import Path

import pytest
from conftest import episode_arrays, write_d4rl_layout

from cnfrl import DatasetError
from cnfrl.collect.recipes import collect_dataset
from cnfrl.data.builtin import parse_builtin
from cnfrl.data.resolve import resolve_source


def test_paths_by_suffix(tmp_path: Path):
    path = write_d4rl_layout(tmp_path / "x.h5", episode_arrays([3], ["timeout"]))
    assert resolve_source(path).kind == "d4rl"
    assert resolve_source(str(path)).kind == "d4rl"


def test_builtin_names_map_to_the_cnfrl_namespace(minari_path: Path):
    assert parse_builtin("hopper-medium-replay").dataset_id == "cnfrl/hopper/medium-replay-v0"
    assert parse_builtin("maze2d-large-dense").dataset_id == "cnfrl/maze2d/large-dense-v0"
    assert parse_builtin("pendulum-medium") is None
    with pytest.raises(DatasetError, match=r"built-in dataset not generated yet .*run `cnfrl collect hopper-random`"):
        resolve_source("hopper-random")
    collect_dataset("hopper-random", steps=50, show_progress=False)
    source = resolve_source("hopper-random")
    assert (source.kind, source.path) == ("minari", minari_path / "cnfrl/hopper/random-v0")
    assert resolve_source("cnfrl/hopper/random-v0").path == source.path


def test_unknown_names_say_what_to_do():
    with pytest.raises(DatasetError, match="downloads are unavailable"):
        resolve_source("D4RL/door/human-v2")
    with pytest.raises(DatasetError, match="no such file"):
        resolve_source("./nowhere.npz")
