"""Benchmark: RL-phase updates per second of each algorithm, one seed and N seeds vmapped, beside the plain-JAX
roof of the CNF update (benchmarks/plain_update.py), and flow pre-training samples per second, per preset.

Hopper-sized synthetic data (obs 11, action 3, 200k transitions) on the device; each measurement compiles first
and times a further jitted scan of updates (or epochs). Only what this script measures goes in its table.
Usage: python benchmarks/cnf_speed.py [--updates 200] [--seeds 5] [--algos cnf plas lapo bc] [--out FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np
from plain_update import plain_updates_per_second
from tables import write_table

from cnfrl.data.transitions import Transitions
from cnfrl.experiments.pipeline import RunData, make_agent
from cnfrl.experiments.registry import algorithm
from cnfrl.experiments.runs import build_config
from cnfrl.models.pretrain import PretrainConfig, PretrainResult, pretrain_flow, untrained_model
from cnfrl.training.loop import device_batches, run_updates, run_updates_seeds, stack_agents
from cnfrl.utils.hardware import describe_hardware


def synthetic(n: int = 200_000) -> Transitions:
    rng = np.random.default_rng(0)
    observations = rng.standard_normal((n + 1, 11)).astype(np.float32)
    ends = (np.arange(n) % 1000) == 999
    ends[-1] = True
    return Transitions(
        observations[:-1], rng.uniform(-0.9, 0.9, (n, 3)), rng.standard_normal(n), observations[1:], np.zeros(n), ends, ends
    )


def updates_per_second(preset: str, algo: str, data: Transitions, updates: int, seeds: int = 1) -> float:
    """cnfrl's updates per second per seed: one agent, or `seeds` agents vmapped in one program."""
    config = build_config(algo, preset)
    kind = algorithm(algo).action_model
    model = None if kind is None else PretrainResult(untrained_model(data, kind, config.model), 0, [])
    agents = [make_agent(build_config(algo, preset, seed=s), RunData(data, "synthetic", "", None), model) for s in range(seeds)]
    batches = device_batches(data)
    batch_size = config.loop.batch_size
    if seeds == 1:
        run = lambda agent, i: run_updates(agent, batches, jax.random.PRNGKey(i), updates, batch_size)
        agent = agents[0]
    else:
        keys = lambda i: jax.random.split(jax.random.PRNGKey(i), seeds)
        run = lambda agent, i: run_updates_seeds(agent, batches, keys(i), updates, batch_size)
        agent = stack_agents(agents)
    agent, _ = jax.block_until_ready(run(agent, 0))
    start = time.perf_counter()
    jax.block_until_ready(run(agent, 1))
    return updates / (time.perf_counter() - start)


def plain_roof(preset: str, updates: int, seeds: int = 1) -> float:
    """The plain-JAX CNF update at the preset's sizes on hopper's dimensions (per seed)."""
    config = build_config("cnf", preset)
    return plain_updates_per_second(
        11,
        3,
        config.model.blocks,
        config.model.hidden,
        config.agent.actor_hidden,
        config.agent.critic_hidden,
        config.loop.batch_size,
        updates,
        seeds,
    )


def pretrain_samples_per_second(preset: str, data: Transitions) -> float:
    config = build_config("cnf", preset)
    result = pretrain_flow(data, config.model, PretrainConfig(epochs=2, sample_states=64), show_progress=False)
    return result.metrics[-1]["samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=5, help="seeds vmapped together in the multi-seed columns")
    parser.add_argument("--presets", nargs="+", default=["paper", "cpu-quick"])
    parser.add_argument("--algos", nargs="+", default=["cnf"], help="registry names (cnfrl algos)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = synthetic()
    n = args.seeds
    rows = []
    for preset in args.presets:
        sps = pretrain_samples_per_second(preset, data)
        roof, roof_n = plain_roof(preset, args.updates), plain_roof(preset, args.updates, n)
        for algo in args.algos:
            one, many = (
                updates_per_second(preset, algo, data, args.updates),
                updates_per_second(preset, algo, data, args.updates, n),
            )
            cnf = algo == "cnf"
            rows.append(
                [
                    preset,
                    algo,
                    f"{one:.1f}",
                    f"{roof:.1f}" if cnf else "",
                    f"{one / roof:.2f}" if cnf else "",
                    f"{many:.1f}",
                    f"{one / many:.2f}",
                    f"{roof_n:.1f}" if cnf else "",
                    f"{sps:,.0f}" if cnf else "",
                ]
            )
    write_table(
        f"RL-phase speed on {describe_hardware()}, jax {jax.__version__}",
        f"python benchmarks/cnf_speed.py --updates {args.updates} --seeds {n} --presets {' '.join(args.presets)} "
        f"--algos {' '.join(args.algos)}",
        [
            "preset",
            "algo",
            "updates/s (1 seed)",
            "plain-JAX CNF update/s",
            "cnfrl / plain",
            f"updates/s per seed ({n} vmapped)",
            f"time of {n} seeds / 1 seed",
            f"plain-JAX per seed ({n} vmapped)",
            "flow pre-training samples/s (batch 1024)",
        ],
        rows,
        args.out,
    )


if __name__ == "__main__":
    main()
