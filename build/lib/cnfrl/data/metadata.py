"""Dataset metadata as plain JSON-able values, so it survives every format the library writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars, arrays, bytes and sets into JSON types (lists for sequences)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, tuple, list)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def dumps(metadata: Mapping[str, Any]) -> str:
    """Serialise metadata to a JSON string with stable key order."""
    return json.dumps(to_jsonable(dict(metadata)), sort_keys=True)


def loads(text: str | bytes) -> dict[str, Any]:
    """Parse metadata written by `dumps`."""
    return json.loads(text)


def stored_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata worth writing with a dataset: everything but where this copy was read from."""
    return {key: value for key, value in to_jsonable(dict(metadata)).items() if key != "source"}
