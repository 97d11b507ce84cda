"""`cnfrl export`: a run's deterministic policy (observation -> action, state normalisation included) as an
ONNX model or a `.npz` NumPy program, and loading either back to act or to be evaluated (`cnfrl evaluate
--policy`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

import cnfrl
from cnfrl.errors import CnfrlError
from cnfrl.export.lower import policy_program
from cnfrl.export.numpy_policy import NumpyPolicy

Format = Literal["onnx", "npz"]


def export_run(run_dir: Path, fmt: Format, out: Path | None = None, show_progress: bool = True) -> Path:
    """Write the policy of a run's last checkpoint to `out` (default RUN_DIR/policy.onnx or policy.npz)."""
    from cnfrl.pipeline import trained_agent

    if fmt not in ("onnx", "npz"):
        raise CnfrlError(f"--format {fmt}: choose onnx or npz")
    run_dir = Path(run_dir)
    agent, config, data = trained_agent(run_dir, show_progress)
    program, arrays = policy_program(agent)
    metadata: dict[str, Any] = {
        "algorithm": config.algo,
        "dataset": data.name,
        "env_id": data.env_id,
        "observation_dim": data.transitions.observation_dim,
        "action_dim": data.transitions.action_dim,
        "cnfrl_version": cnfrl.__version__,
        "config_hash": hashlib.blake2b((run_dir / "config.json").read_bytes(), digest_size=8).hexdigest(),
        "seed": config.seed,
    }
    out = Path(out) if out is not None else run_dir / f"policy.{fmt}"
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npz":
        return NumpyPolicy(program, arrays, metadata).save(out)
    from cnfrl.export.onnx_policy import to_onnx

    model = to_onnx(program, arrays, metadata["observation_dim"], metadata["action_dim"], metadata)
    out.write_bytes(model.SerializeToString())
    return out


def load_exported(path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], dict[str, str]]:
    """An exported policy file as a batched function observations -> actions, with its metadata."""
    path = Path(path)
    if not path.is_file():
        raise CnfrlError(f"{path}: no such policy file; write one with `cnfrl export RUN_DIR --format onnx|npz`")
    if path.suffix == ".npz":
        policy = NumpyPolicy.load(path)
        return policy, {key: str(value) for key, value in policy.metadata.items()}
    if path.suffix == ".onnx":
        try:
            import onnxruntime
        except ImportError as error:
            raise CnfrlError("running an ONNX policy needs onnxruntime: pip install cnfrl[export]") from error
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        return (lambda observations: session.run(None, {"observations": np.asarray(observations, np.float32)})[0]), metadata
    raise CnfrlError(f"{path}: a policy file ends in .onnx or .npz")
