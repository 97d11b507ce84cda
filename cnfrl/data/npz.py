"""Plain NumPy .npz datasets with the D4RL keys; metadata travels as a JSON string under `metadata`."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from cnfrl.data.flat import FLAT_KEYS, RawDataset, require_keys
from cnfrl.data.metadata import dumps, loads, stored_metadata
from cnfrl.data.transitions import Transitions
from cnfrl.errors import dataset_error
from cnfrl.utils.files import atomic_output, require_file


def read_npz(path: Path) -> RawDataset:
    """Read the arrays and metadata of an .npz file laid out like a D4RL dataset."""
    path = Path(path)
    require_file(path, "NPZ")
    try:
        with np.load(path, allow_pickle=False) as archive:
            require_keys(archive.files, path)
            arrays = {key: archive[key] for key in FLAT_KEYS if key in archive.files}
            metadata = loads(archive["metadata"].item()) if "metadata" in archive.files else {}
            unused = sorted(set(archive.files) - set(FLAT_KEYS) - {"metadata"})
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise dataset_error(path, f"is not a readable .npz file ({error})", "pass a .npz written by numpy.savez") from None
    if unused:
        metadata["unused_keys"] = unused
    return RawDataset(arrays, metadata)


def write_npz(transitions: Transitions, path: Path, overwrite: bool = False) -> Path:
    """Write Transitions (every array plus JSON metadata) to an uncompressed .npz file atomically."""
    path = Path(path)
    if path.suffix != ".npz":
        raise dataset_error(path, "has no .npz suffix", "name the file with .npz")
    with atomic_output(path, overwrite) as temporary:
        with open(temporary, "wb") as handle:
            metadata = np.array(dumps(stored_metadata(transitions.metadata)))
            # numpy's stub reads **arrays as its allow_pickle flag
            np.savez(handle, metadata=metadata, **transitions.arrays())  # type: ignore[arg-type]
    return path
