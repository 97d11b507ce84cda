"""Benchmark: RL-phase updates per second of each algorithm and flow pre-training samples per second, per preset.

Hopper-sized synthetic data (obs 11, action 3, 200k transitions) on the device; each measurement
compiles first and times a further jitted scan of updates (or epochs). The reference PyTorch
implementation makes about 12 updates/s at the paper configuration on the 2-core CPU machine
(the figure the project was given; not re-measured here); the target here is 18 (1.5x).
Usage: python benchmarks/cnf_speed.py [--updates 200] [--algos cnf plas lapo bc] [--out benchmarks/results/cnf_speed_cpu.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np
from report import write_table

from cnfrl.agents.registry import algorithm
from cnfrl.agents.registry import preset as named_preset
from cnfrl.data.transitions import Transitions
from cnfrl.models.pretrain import (
    PretrainConfig,
    PretrainResult,
    pretrain_flow,
    untrained_model,
)
from cnfrl.pipeline import RunData, make_agent
from cnfrl.train import device_batches, run_updates

REFERENCE_UPDATES_PER_SECOND = 12.0
TARGET_UPDATES_PER_SECOND = 18.0


def synthetic(n: int = 200_000) -> Transitions:
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((n + 1, 11)).astype(np.float32)
    ends = (np.arange(n) % 1000) == 999
    ends[-1] = True
    return Transitions(
        observations[:-1], rng.uniform(-0.9, 0.9, (n, 3)), rng.standard_normal(n), observations[1:], np.zeros(n), ends, ends
    )


def updates_per_second(preset: str, algo: str, data: Transitions, updates: int) -> float:
    config = named_preset(preset, algo)
    kind = algorithm(algo).action_model
    model = None if kind is None else PretrainResult(untrained_model(data, kind, config.model), 0, [])
    agent = make_agent(config, RunData(data, "synthetic", "", None), model)
    key = jax.random.PRNGKey(0)
    batches = device_batches(data)
    agent, _ = run_updates(agent, batches, key, updates, config.loop.batch_size)
    jax.block_until_ready(agent)
    start = time.perf_counter()
    agent, _ = run_updates(agent, batches, jax.random.PRNGKey(1), updates, config.loop.batch_size)
    jax.block_until_ready(agent)
    return updates / (time.perf_counter() - start)


def pretrain_samples_per_second(preset: str, data: Transitions) -> float:
    config = named_preset(preset)
    result = pretrain_flow(data, config.model, PretrainConfig(epochs=2, sample_states=64), show_progress=False)
    return result.metrics[-1]["samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--presets", nargs="+", default=["paper", "cpu-quick"])
    parser.add_argument("--algos", nargs="+", default=["cnf"], help="registry names (cnfrl algos)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = synthetic()
    device = jax.devices()[0]
    rows = []
    for preset in args.presets:
        sps = pretrain_samples_per_second(preset, data)
        for algo in args.algos:
            ups = updates_per_second(preset, algo, data, args.updates)
            ratios = (
                [f"{ups / REFERENCE_UPDATES_PER_SECOND:.2f}x", f"{ups / TARGET_UPDATES_PER_SECOND:.2f}x"]
                if algo == "cnf"
                else ["", ""]
            )
            rows.append([preset, algo, f"{ups:.1f}", *ratios, f"{sps:,.0f}" if algo == "cnf" else ""])
    write_table(
        f"RL-phase speed on {device.platform.upper()} ({getattr(device, 'device_kind', '')}), jax {jax.__version__}",
        f"python benchmarks/cnf_speed.py --updates {args.updates} --presets {' '.join(args.presets)} "
        f"--algos {' '.join(args.algos)}",
        [
            "preset",
            "algo",
            "RL updates/s",
            "CNF vs reference 12/s",
            "CNF vs target 18/s",
            "flow pre-training samples/s (batch 1024)",
        ],
        rows,
        args.out,
    )


if __name__ == "__main__":
    main()
