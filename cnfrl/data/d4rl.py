"""D4RL HDF5 files, read exactly as D4RL ships them and written so d3rlpy, CORL and D4RL tools read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py

from cnfrl.data.flat import FLAT_KEYS, RawDataset, require_keys
from cnfrl.data.metadata import stored_metadata
from cnfrl.data.transitions import Transitions
from cnfrl.errors import dataset_error
from cnfrl.utils.files import atomic_output, require_file

HDF5_SUFFIXES = (".hdf5", ".h5", ".hdf")


def read_d4rl(path: Path) -> RawDataset:
    """Read the arrays and scalar metadata of a D4RL-layout HDF5 file; list what it holds but is not used."""
    path = Path(path)
    require_file(path, "HDF5")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise dataset_error(
            path, f"is not a readable HDF5 file ({error})", "pass a D4RL .hdf5, a .npz or a Minari dataset"
        ) from None
    with handle:
        require_keys(handle.keys(), path)
        arrays = {key: handle[key][()] for key in FLAT_KEYS if key in handle}
        metadata: dict[str, Any] = {}
        unused: list[str] = []
        if isinstance(handle.get("metadata"), h5py.Group):
            _read_metadata(handle["metadata"], metadata, unused)
        handle.visititems(
            lambda name, item: (
                unused.append(name)
                if isinstance(item, h5py.Dataset) and name not in arrays and not name.startswith("metadata/")
                else None
            )
        )
    if unused:
        metadata["unused_keys"] = sorted(unused)
    return RawDataset(arrays, metadata)


def _read_metadata(group: h5py.Group, metadata: dict[str, Any], unused: list[str]) -> None:
    def visit(name: str, item: Any) -> None:
        if not isinstance(item, h5py.Dataset):
            return
        if item.shape != ():
            unused.append(f"metadata/{name}")
            return
        value = item[()]
        value = value.decode() if isinstance(value, bytes) else value.item() if hasattr(value, "item") else value
        metadata[name] = json.loads(value) if item.attrs.get("json", False) else value

    group.visititems(visit)


def write_d4rl(transitions: Transitions, path: Path, overwrite: bool = False) -> Path:
    """Write Transitions as a D4RL-layout HDF5 file (with next_observations and episode_ends) atomically."""
    path = Path(path)
    if path.suffix not in HDF5_SUFFIXES:
        raise dataset_error(path, "has no HDF5 suffix", f"name the file with one of {', '.join(HDF5_SUFFIXES)}")
    with atomic_output(path, overwrite) as temporary, h5py.File(temporary, "w") as handle:
        for key, array in transitions.arrays().items():
            handle.create_dataset(key, data=array)
        group = handle.create_group("metadata")
        for key, value in stored_metadata(transitions.metadata).items():
            if isinstance(value, (str, int, float, bool)):
                group.create_dataset(key, data=value)
            else:
                group.create_dataset(key, data=json.dumps(value)).attrs["json"] = True
    return path
