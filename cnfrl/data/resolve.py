"""One resolver from what a user types (a path, a Minari id, a built-in name) to validated Transitions, and
its counterpart that writes Transitions where a destination of the same forms says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnfrl.data.builtin import DEMO_NAME, demo_path, parse_builtin
from cnfrl.data.d4rl import HDF5_SUFFIXES, read_d4rl, write_d4rl
from cnfrl.data.flat import RawDataset, transitions_from_flat
from cnfrl.data.minari import minari_data_dir, minari_root, read_minari, write_minari
from cnfrl.data.npz import read_npz, write_npz
from cnfrl.data.transitions import ACTION_BOUND, Transitions
from cnfrl.envs.make import env_shape, is_registered
from cnfrl.errors import dataset_error


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset lives and how to read it: kind is 'd4rl', 'npz' or 'minari'."""

    kind: str
    path: Path
    name: str


def resolve_source(name: str | Path) -> DatasetSource:
    """Decide what `name` means: an existing path (by suffix or directory), a built-in name, or a Minari id."""
    text = str(name)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir():
            if minari_data_dir(path) is None:
                raise dataset_error(
                    path, "is a directory but not a Minari dataset", "pass a .hdf5 or .npz file or a Minari dataset directory"
                )
            return DatasetSource("minari", path, text)
        return DatasetSource("npz" if path.suffix == ".npz" else "d4rl", path, text)
    if path.suffix in HDF5_SUFFIXES + (".npz",) or text.startswith((".", "/", "~")):
        raise dataset_error(path, "no such file", "check the path, or name a built-in dataset or a Minari id instead")
    if text == DEMO_NAME:
        if minari_data_dir(demo_path()) is None:
            raise dataset_error(
                text, f"the demo dataset is not generated yet (looked in {demo_path()})", "run `make run` or `cnfrl run` first"
            )
        return DatasetSource("minari", demo_path(), text)
    builtin = parse_builtin(text)
    if builtin is not None:
        located = builtin.path()
        if minari_data_dir(located) is None:
            raise dataset_error(
                text, f"built-in dataset not generated yet (looked in {located})", f"run `cnfrl collect {text}` first"
            )
        return DatasetSource("minari", located, text)
    located = minari_root() / text
    if minari_data_dir(located) is not None:
        return DatasetSource("minari", located, text)
    raise dataset_error(
        text,
        f"not a file, a built-in name or a Minari dataset under {minari_root()}",
        "downloads are unavailable: pass a path, set MINARI_DATASETS_PATH, or generate one with `cnfrl collect`",
    )


def read_source(source: DatasetSource) -> RawDataset:
    """Read a resolved source with the reader of its kind."""
    readers = {"d4rl": read_d4rl, "npz": read_npz, "minari": read_minari}
    return readers[source.kind](source.path)


def load_dataset(name: str | Path, env_id: str | None = None, rescale_actions: bool = False) -> Transitions:
    """Load and validate a dataset by path, Minari id or built-in name.

    `env_id` (else the dataset's own `env_id` metadata) names the environment the data must fit: its
    observation size is checked, and with `rescale_actions` its action bounds map actions to [-1, 1].
    """
    if env_id is not None and not is_registered(env_id):
        raise dataset_error(env_id, "is not a registered Gymnasium environment", "pass an id such as Hopper-v5 to --env")
    source = resolve_source(name)
    arrays, metadata = read_source(source)
    if env_id is not None:
        metadata["env_id"] = env_id
    env_id = metadata.get("env_id")
    if rescale_actions:
        arrays["actions"] = _rescale_actions(np.asarray(arrays["actions"]), env_id, source.name)
    if is_registered(env_id):
        _check_unit_bounds_hold(np.asarray(arrays["actions"]), str(env_id), source.name)
    transitions = transitions_from_flat(arrays, metadata, source.name)
    if env_id is not None and is_registered(env_id):
        _check_fits_env(transitions, env_id, source.name)
    return transitions


def save_dataset(transitions: Transitions, destination: str | Path, root: Path | None = None, overwrite: bool = False) -> Path:
    """Write a dataset by the destination's form: OUT.hdf5 (.h5, .hdf) in D4RL's layout, OUT.npz, or else a
    Minari id under `root` (default: the Minari data path); an existing output is replaced only with
    `overwrite`. Returns where it went."""
    suffix = Path(destination).suffix
    if suffix in HDF5_SUFFIXES:
        return write_d4rl(transitions, Path(destination), overwrite=overwrite)
    if suffix == ".npz":
        return write_npz(transitions, Path(destination), overwrite=overwrite)
    return write_minari(transitions, str(destination), root=root, overwrite=overwrite)


def _check_fits_env(transitions: Transitions, env_id: str, name: str) -> None:
    shape = env_shape(env_id)
    for what, have, expected in (
        ("observations", transitions.observation_dim, shape.observation_dim),
        ("actions", transitions.action_dim, len(shape.action_low)),
    ):
        if have != expected:
            raise dataset_error(
                name,
                f"{what} have {have} dimensions but {env_id} has {expected}",
                "pass the environment the data was collected on (--env)",
            )


def _check_unit_bounds_hold(actions: np.ndarray, env_id: str, name: str) -> None:
    """Actions past [-1, 1] for an environment whose own bounds are [-1, 1]: rescaling cannot help, so say so
    (other environments get the validation's advice to rescale from their bounds)."""
    low, high = float(actions.min(initial=0.0)), float(actions.max(initial=0.0))
    shape = env_shape(env_id)
    unit_box = np.allclose(shape.action_low, -ACTION_BOUND) and np.allclose(shape.action_high, ACTION_BOUND)
    if unit_box and (low < -ACTION_BOUND or high > ACTION_BOUND):
        raise dataset_error(
            name,
            f"actions lie outside [-1, 1] (min {low:.4g}, max {high:.4g}), which are {env_id}'s own bounds",
            "rescaling cannot fix that: clip the actions to [-1, 1] or check how they were recorded",
        )


def _rescale_actions(actions: np.ndarray, env_id: str | None, name: str) -> np.ndarray:
    if not is_registered(env_id):
        raise dataset_error(name, "rescaling actions needs the environment's bounds", "pass --env with a Gymnasium id")
    shape = env_shape(env_id)
    span = shape.action_high - shape.action_low
    return (2.0 * (actions - shape.action_low) / span - 1.0).astype(np.float32)
