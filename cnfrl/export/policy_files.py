"""Exported policy files: writing an export program as ONNX or as a `.npz` NumPy program, and loading either back
as a batched function observations -> actions (`cnfrl evaluate --policy`)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cnfrl.errors import CnfrlError
from cnfrl.export.numpy_policy import NumpyPolicy, Step
from cnfrl.utils.files import write_atomically

Format = Literal["onnx", "npz"]
REWRITE = "write it again with `cnfrl export RUN_DIR --format onnx|npz`"


def write_policy(program: list[Step], arrays: dict[str, np.ndarray], metadata: dict[str, Any], fmt: Format, out: Path) -> Path:
    """Write a policy program with its weights and metadata as `fmt` ("onnx" or "npz") to `out`, atomically."""
    if fmt not in ("onnx", "npz"):
        raise CnfrlError(f"--format {fmt}: choose onnx or npz")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        return NumpyPolicy(program, arrays, metadata).save(out)
    from cnfrl.export.onnx_policy import to_onnx

    model = to_onnx(program, arrays, metadata["observation_dim"], metadata["action_dim"], metadata)
    return write_atomically(out, model.SerializeToString())


def load_exported(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, str]]:
    """An exported policy file as a batched function observations -> actions, with its metadata; a missing,
    truncated or foreign file is a one-line error that names it."""
    path = Path(path)
    if not path.is_file():
        raise CnfrlError(f"{path}: no such policy file; write one with `cnfrl export RUN_DIR --format onnx|npz`")
    if path.suffix == ".npz":
        try:
            policy = NumpyPolicy.load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
            raise CnfrlError(f"{path}: not a readable cnfrl NumPy policy ({type(error).__name__}); {REWRITE}") from error
        return policy, {key: str(value) for key, value in policy.metadata.items()}
    if path.suffix == ".onnx":
        try:
            import onnxruntime
        except ImportError as error:
            raise CnfrlError("running an ONNX policy needs onnxruntime: pip install cnfrl[export]") from error
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
            raise CnfrlError(f"{path}: not a readable ONNX model ({type(error).__name__}); {REWRITE}") from error
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        return (lambda observations: session.run(None, {"observations": np.asarray(observations, np.float32)})[0]), metadata
    raise CnfrlError(f"{path}: a policy file ends in .onnx or .npz")
