"""Benchmark: how much of an evaluation's "spread" a policy that does not change makes by itself.

Every periodic evaluation of a run plays the same episodes (seeds EVAL_SEED + 0..episodes-1), so the spread
that `cnfrl report` shows as the spread (max - min of the last 4 evaluations) is how much the scores on those
fixed start states move while the policy trains. This script holds a finished run's last checkpoint still and
measures two floors under that spread: (1) its scores on `--sets` disjoint sets of `--episodes` start states
(set 0 is the run's own, so its score repeats the run's last evaluation), and (2) its scores on the run's own
start states for `--sets` copies whose arrays differ from it by a relative `--scale` (1e-6: about the size of a
rounding difference). Each floor is given as the spread of 4 (max - min, averaged over every choice of 4), beside
the run's own spread over its last 4 evaluations. A policy that falls on some start states and not on others
has a large spread in both, though it never learns anything between them.
Set 0 repeats the run's last evaluation exactly only with the XLA threading the run trained with: pass
`--single-thread` for runs trained single-threaded (two at a time, as `cnfrl bench --ray` does).
Usage: python benchmarks/eval_noise.py RUN_DIR... [--sets 8] [--episodes 10] [--scale 1e-6] [--single-thread]
       [--out benchmarks/results/eval_noise_cpu.md]
"""

from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tables import write_table

from cnfrl.envs.evaluate import evaluate
from cnfrl.experiments.pipeline import EVAL_SEED, trained_agent
from cnfrl.experiments.report import LAST_EVALUATIONS as LAST
from cnfrl.training.checkpoints import CHECKPOINT, checkpoint_history
from cnfrl.utils.hardware import single_thread_xla_flags


def perturbed(agent: Any, scale: float, seed: int) -> Any:
    """The agent with every floating-point array multiplied by 1 + scale * N(0, 1): the same policy up to
    rounding-sized changes when `scale` is near float32's precision."""
    leaves, tree = jax.tree_util.tree_flatten(agent)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    noisy = [
        leaf * (1.0 + scale * jax.random.normal(key, jnp.shape(leaf), leaf.dtype))
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating)
        else leaf
        for leaf, key in zip(leaves, keys, strict=True)
    ]
    return jax.tree_util.tree_unflatten(tree, noisy)


def policy_scores(run_dir: Path, sets: int, episodes: int, scale: float) -> dict[str, Any]:
    """Normalised scores of the run's last checkpoint on `sets` sets of start states, shape (sets, episodes),
    their lengths, and the scores of `sets` perturbed copies (`perturbed`) on the run's own start states.

    Set k plays start states EVAL_SEED + k * episodes onwards, `episodes` at a time as the run's evaluations do,
    with the agent an argument of the compiled policy as in training: a different batch size, or the agent's
    arrays compiled in as constants, changes the actions in their last bits, which alone moves the score."""
    agent, config, data = trained_agent(run_dir, show_progress=False)
    if data.references is None:
        raise SystemExit(f"{run_dir}: the dataset has no reference scores; a normalised spread needs them")
    act = jax.jit(lambda agent, observations: agent.act(observations))

    def play(policy: Any, first_seed: int) -> Any:
        return evaluate(lambda o: np.asarray(act(policy, o)), data.env_id, episodes, first_seed, data.references)

    results = [play(agent, EVAL_SEED + k * episodes) for k in range(sets)]
    nudged = [play(perturbed(agent, scale, k), EVAL_SEED).normalized for k in range(sets)]
    return {
        "algo": config.algo,
        "scores": np.stack([r.normalized for r in results]),
        "lengths": np.stack([r.lengths for r in results]),
        "perturbed": np.stack(nudged),
    }


def spread_of_four(means: np.ndarray) -> float:
    """max - min of 4 of the scores, averaged over every choice of 4 (of the sets, or of the copies)."""
    return float(np.mean([np.ptp(means[list(c)]) for c in itertools.combinations(range(len(means)), LAST)]))


def training_spread(run_dir: Path) -> str:
    """The run's own spread over its last 4 evaluations, from the history its checkpoint holds, or '-'."""
    scores = [record["eval_score_mean"] for record in checkpoint_history(run_dir / CHECKPOINT)]
    return f"{np.ptp(scores[-LAST:]):.1f}" if len(scores) >= LAST else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--sets", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--scale", type=float, default=1e-6, help="relative size of the perturbed copies' changes")
    parser.add_argument("--single-thread", action="store_true", help="single-threaded XLA, as cnfrl bench --ray trains")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.single_thread:
        os.environ["XLA_FLAGS"] = single_thread_xla_flags()
    if args.sets < LAST:
        raise SystemExit(f"--sets {args.sets}: the spread of {LAST} sets needs at least {LAST}")
    rows = []
    for run_dir in args.run_dirs:
        played = policy_scores(run_dir, args.sets, args.episodes, args.scale)
        means, nudged = played["scores"].mean(1), played["perturbed"].mean(1)
        rows.append(
            [
                f"{played['algo']} ({run_dir})",
                " ".join(f"{m:.1f}" for m in means),
                f"{played['scores'].mean():.1f}",
                f"{spread_of_four(means):.1f}",
                " ".join(f"{m:.1f}" for m in nudged),
                f"{spread_of_four(nudged):.1f}",
                training_spread(run_dir),
                f"{np.mean(played['lengths'] < played['lengths'].max()):.2f}",
            ]
        )
    header = [
        "run",
        f"score on each set of {args.episodes} start states (set 0: the run's own)",
        f"all {args.sets * args.episodes}",
        f"spread of {LAST} sets",
        f"score of {args.sets} copies perturbed by {args.scale:g}, on set 0",
        f"spread of {LAST} copies",
        f"run's spread, last {LAST} evaluations",
        "share of episodes ended early",
    ]
    runs = " ".join(map(str, args.run_dirs))
    command = f"python benchmarks/eval_noise.py {runs} --sets {args.sets} --episodes {args.episodes} --scale {args.scale:g}" + (
        " --single-thread" if args.single_thread else ""
    )
    notes = (
        f"The policy is the run's last checkpoint, held fixed; only the start states change between sets. A copy: "
        f"every array of the agent multiplied by 1 + {args.scale:g} N(0, 1), played on the run's own start states. "
        f"'spread of {LAST}': max - min of {LAST} scores, averaged over every choice of {LAST}. 'ended early': "
        "episodes shorter than the longest one played (a fall, on hopper and walker2d)."
    )
    write_table("Evaluation noise of a fixed policy", command, header, rows, args.out, notes)


if __name__ == "__main__":
    main()
