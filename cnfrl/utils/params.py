"""Parameters and small pytrees on disk as .npz files, written atomically (temp file + rename)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from cnfrl.utils.files import write_atomically

SEPARATOR = "/"


def save_params(params: Any, path: Path) -> Path:
    """Write a nested dict of arrays to `path` (.npz) so a killed writer never leaves half a file."""
    flat = traverse_util.flatten_dict(jax.device_get(params), sep=SEPARATOR)
    buffer = io.BytesIO()
    # numpy's stub reads **arrays as its allow_pickle flag
    np.savez(buffer, **{key: np.asarray(value) for key, value in flat.items()})  # type: ignore[arg-type]
    return write_atomically(Path(path), buffer.getvalue())


def load_params(path: Path) -> dict[str, Any]:
    """Read a nested dict of numpy arrays written by `save_params`."""
    with np.load(Path(path)) as archive:
        flat = {key: archive[key] for key in archive.files}
    return traverse_util.unflatten_dict(flat, sep=SEPARATOR)
