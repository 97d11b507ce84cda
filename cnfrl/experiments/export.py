"""`cnfrl export`: a run's deterministic policy (observation -> action, state normalisation included) written as
an ONNX model or a `.npz` NumPy program, with what it was trained on in its metadata."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cnfrl
from cnfrl.experiments.pipeline import trained_agent
from cnfrl.export.policy_files import Format, write_policy
from cnfrl.export.program import policy_program


def export_run(run_dir: Path, fmt: Format, out: Path | None = None, show_progress: bool = True) -> Path:
    """Write the policy of a run's last checkpoint to `out` (default RUN_DIR/policy.onnx or policy.npz)."""
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
    return write_policy(program, arrays, metadata, fmt, out if out is not None else run_dir / f"policy.{fmt}")
