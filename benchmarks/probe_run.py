"""Diagnostic: what a trained latent agent's critics and actor do on its dataset's states.

Loads a finished run (config, model/, last checkpoint) and, on a random sample of dataset states, prints the
critics' min Q of the data's action, of the policy's action and of the action model's centre (BC through it),
how often and by how much the policy is rated above the data, the distances between the three actions, the
actor's std, and the normalised scores of the deterministic and sampled policies and of the model's centre
(BC through it). For latent agents (cnf, plas and the ablations).
Usage: python benchmarks/probe_run.py RUN_DIR [--states 20000] [--episodes 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from cnfrl.envs.evaluate import evaluate
from cnfrl.experiments.pipeline import EVAL_SEED, load_run_data, make_agent
from cnfrl.experiments.registry import load_config
from cnfrl.models.pretrain import load_model
from cnfrl.training.checkpoints import CHECKPOINT, load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--states", type=int, default=20_000)
    parser.add_argument("--episodes", type=int, default=10)
    args = parser.parse_args()
    config = load_config(args.run_dir / "config.json")
    data = load_run_data(config, show_progress=False)
    agent, updates, _ = load_checkpoint(args.run_dir / CHECKPOINT, make_agent(config, data, load_model(args.run_dir / "model")))
    rows = np.random.default_rng(0).choice(
        len(data.transitions.rewards), min(args.states, len(data.transitions.rewards)), replace=False
    )
    observations, data_actions = jnp.asarray(data.transitions.observations[rows]), jnp.asarray(data.transitions.actions[rows])
    states = agent.model.normalize(observations)
    policy_actions, centre_actions = agent.act(observations), agent.model.behaviour_action(observations)
    q = {
        name: agent.q(agent.critic.params, states, actions).min(0)
        for name, actions in (("data", data_actions), ("policy", policy_actions), ("centre", centre_actions))
    }
    print(f"{args.run_dir}: {updates:,} updates, {len(rows):,} dataset states")
    print(
        f"mean min Q: data {float(q['data'].mean()):.1f}, policy {float(q['policy'].mean()):.1f}, "
        f"model centre {float(q['centre'].mean()):.1f}"
    )
    gap = q["policy"] - q["data"]
    print(f"policy rated above data in {float((gap > 0).mean()):.0%} of states; mean Q(policy) - Q(data) {float(gap.mean()):.2f}")
    distance = lambda a, b: float(jnp.abs(a - b).mean())
    print(
        f"mean |a| distances: policy-data {distance(policy_actions, data_actions):.3f}, policy-centre "
        f"{distance(policy_actions, centre_actions):.3f}, centre-data {distance(centre_actions, data_actions):.3f}"
    )
    latent = agent.latent(agent.actor.params, states, None) / agent.config.latent_bound
    print(
        f"actor latent / bound: mean |z| {float(jnp.abs(latent).mean()):.2f}, per dimension within 5% of the bound "
        + " ".join(f"{float(x):.0%}" for x in (jnp.abs(latent) > 0.95).mean(0))
    )
    _, log_std = agent.actor.apply_fn({"params": agent.actor.params}, states, method="latent")
    if log_std is not None:
        print(f"actor std (mean) {float(jnp.exp(log_std).mean()):.2e}")
    deterministic = jax.jit(agent.act)
    sampled_action = jax.jit(lambda o, k: agent.policy_action(agent.actor.params, o, k))
    keys = iter(jax.random.split(jax.random.PRNGKey(config.seed), 10_000))
    centre = jax.jit(agent.model.behaviour_action)
    for name, act in (
        ("deterministic", deterministic),
        ("sampled", lambda o: sampled_action(o, next(keys))),
        ("model centre", centre),
    ):
        result = evaluate(act, data.env_id, args.episodes, EVAL_SEED, data.references).summary()
        print(
            f"{name} policy: {result.get('score_mean', result['return_mean']):.1f} over {args.episodes} episodes, "
            f"mean length {result['length_mean']:.0f}"
        )


if __name__ == "__main__":
    main()
