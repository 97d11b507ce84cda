"""A trained cnfrl policy as plain NumPy: observation -> action, with no JAX (this file imports only NumPy and
the standard library, so it can be copied next to a robot's code on its own).

An exported policy is a short program of array operations (`Step`s: normalise, dense layers, tanh, the flow's
inverse coupling, ...) over named tensors, stored with its weights in one `.npz` (`cnfrl export --format npz`).
The ONNX exporter writes the same program as an ONNX graph, so both formats compute the same function.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

Step = dict[str, Any]
PROGRAM_KEY = "__program__"
METADATA_KEY = "__metadata__"


def _dense_stack(x: np.ndarray, step: Step, arrays: dict[str, np.ndarray]) -> np.ndarray:
    layers = step["layers"]
    for index, (kernel, bias) in enumerate(layers):
        x = x @ arrays[kernel] + arrays[bias]
        if index < len(layers) - 1:
            if step["activation"] == "relu":
                x = np.maximum(x, 0.0)
            else:
                x = np.where(x >= 0, x, arrays[step["slopes"][index]] * x)
    return x


def _coupling_inverse(x: np.ndarray, state: np.ndarray, step: Step, arrays: dict[str, np.ndarray]) -> np.ndarray:
    d, a_size = x.shape[-1], step["a_size"]
    if step["flip"]:
        part_b, part_a = x[:, : d - a_size], x[:, d - a_size :]
    else:
        part_a, part_b = x[:, :a_size], x[:, a_size:]
    out = _dense_stack(np.concatenate([part_a, state], -1), step, arrays)
    raw, shift = out[:, : d - a_size], out[:, d - a_size :]
    part_b = (part_b - shift) * np.exp(-arrays[step["rescale"]] * np.tanh(raw))
    return np.concatenate([part_b, part_a] if step["flip"] else [part_a, part_b], -1)


def run_program(program: list[Step], arrays: dict[str, np.ndarray], observations: np.ndarray) -> np.ndarray:
    """Evaluate an exported policy program on a batch of raw observations (float32)."""
    values = {"observations": np.asarray(observations, np.float32)}
    for step in program:
        inputs = [values[name] for name in step["in"]]
        x, op = inputs[0], step["op"]
        if op == "normalize":
            y = (x - arrays[step["mean"]]) / arrays[step["std"]]
        elif op == "dense_stack":
            y = _dense_stack(np.concatenate(inputs, -1), step, arrays)
        elif op == "slice":
            y = x[:, step["start"] : step["stop"]]
        elif op == "tanh":
            y = np.tanh(x)
        elif op == "scale":
            y = x * np.float32(step["factor"])
        elif op == "clip":
            y = np.clip(x, step["low"], step["high"])
        elif op == "atanh":
            y = np.arctanh(np.clip(x, -step["clip"], step["clip"]))
        elif op == "matmul":
            y = x @ arrays[step["matrix"]]
        elif op == "affine":
            y = x * arrays[step["scale"]] + arrays[step["shift"]]
        elif op == "coupling_inverse":
            y = _coupling_inverse(x, inputs[1], step, arrays)
        elif op == "axpy":
            y = x + np.float32(step["factor"]) * inputs[1]
        elif op == "zeros":
            y = np.zeros((x.shape[0], step["dim"]), np.float32)
        else:
            raise ValueError(f"unknown step {op!r} in the policy program")
        values[step["out"]] = y.astype(np.float32)
    return values["actions"]


class NumpyPolicy:
    """An exported policy: call it with raw observations (batch x obs_dim, or one observation) for actions."""

    def __init__(self, program: list[Step], arrays: dict[str, np.ndarray], metadata: dict[str, Any]):
        self.program = program
        self.arrays = {name: np.asarray(value, np.float32) for name, value in arrays.items()}
        self.metadata = metadata

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        """Actions in [-1, 1] for raw observations; a single observation gives a single action."""
        observations = np.asarray(observations, np.float32)
        if observations.ndim == 1:
            return run_program(self.program, self.arrays, observations[None])[0]
        return run_program(self.program, self.arrays, observations)

    def save(self, path: Path) -> Path:
        """Write program, weights and metadata into one .npz."""
        payload: dict[str, Any] = {
            **self.arrays,
            PROGRAM_KEY: np.array(json.dumps(self.program)),
            METADATA_KEY: np.array(json.dumps(self.metadata)),
        }
        path = Path(path)
        partial = path.with_name(f".{path.name}.partial")
        with open(partial, "wb") as handle:
            np.savez(handle, **payload)
        os.replace(partial, path)  # a killed writer leaves no half policy under the real name
        return path

    @classmethod
    def load(cls, path: Path | str) -> NumpyPolicy:
        """Read a policy written by `save` (`cnfrl export --format npz`)."""
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files if name not in (PROGRAM_KEY, METADATA_KEY)}
            return cls(json.loads(str(stored[PROGRAM_KEY])), arrays, json.loads(str(stored[METADATA_KEY])))


def load_policy(path: Path | str) -> NumpyPolicy:
    """The NumPy policy in a `.npz` written by `cnfrl export --format npz`."""
    return NumpyPolicy.load(path)
