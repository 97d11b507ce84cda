"""Benchmark: actions per second of a trained run's policy as JAX (jitted `agent.act`), as the exported ONNX
model in onnxruntime, and as the exported NumPy program, at batch 1 and 64, on the CPU.

Usage: python benchmarks/policy_speed.py RUN_DIR [RUN_DIR ...] [--seconds 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from tables import write_table

from cnfrl.experiments.export import export_run
from cnfrl.experiments.pipeline import trained_agent
from cnfrl.export.policy_files import load_exported
from cnfrl.utils.hardware import describe_hardware


def actions_per_second(act, observations: np.ndarray, seconds: float) -> float:
    """Calls on the same batch for about `seconds` after one warm-up call; actions (rows) per second."""
    act(observations)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        act(observations)
        calls += 1
    return calls * len(observations) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for run_dir in args.run_dirs:
        agent, config, data = trained_agent(run_dir, show_progress=False)
        jitted = jax.jit(agent.act)
        backends = {"JAX": lambda obs, jitted=jitted: np.asarray(jitted(obs))}
        with tempfile.TemporaryDirectory() as folder:
            for fmt, label in (("onnx", "ONNX (onnxruntime)"), ("npz", "NumPy")):
                backends[label], _ = load_exported(export_run(run_dir, fmt, Path(folder) / f"policy.{fmt}", show_progress=False))
            for batch in (1, 64):
                observations = data.transitions.observations[:batch]
                rates = {label: actions_per_second(act, observations, args.seconds) for label, act in backends.items()}
                base = rates["JAX"]
                rows.append([config.algo, str(batch)] + [f"{rate:,.0f} ({rate / base:.2f}x)" for rate in rates.values()])
    write_table(
        f"Policy actions/s on {describe_hardware()}, jax {jax.__version__} (ratio to JAX)",
        "python benchmarks/policy_speed.py " + " ".join(str(d) for d in args.run_dirs),
        ["algorithm", "batch", "JAX (jit)", "ONNX (onnxruntime)", "NumPy"],
        rows,
        args.out,
    )


if __name__ == "__main__":
    main()
