"""Parameters and small pytrees on disk as .npz files, written atomically (temp file + rename)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import traverse_util

SEPARATOR = "/"


def save_params(params: Any, path: Path) -> Path:
    """Write a nested dict of arrays to `path` (.npz) so a killed writer never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = traverse_util.flatten_dict(jax.device_get(params), sep=SEPARATOR)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **{key: np.asarray(value) for key, value in flat.items()})
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def load_params(path: Path) -> dict[str, Any]:
    """Read a nested dict of numpy arrays written by `save_params`."""
    with np.load(Path(path)) as archive:
        flat = {key: archive[key] for key in archive.files}
    return traverse_util.unflatten_dict(flat, sep=SEPARATOR)
