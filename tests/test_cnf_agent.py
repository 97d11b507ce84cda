"""The CNF latent actor-critic: finite updates, bootstrapping through time-outs, exact resume."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnfrl.agents.cnf import CNFAgent, CNFConfig
from cnfrl.data.transitions import Transitions
from cnfrl.flows.flow import ConditionalFlow, FlowConfig
from cnfrl.flows.model import FlowModel
from cnfrl.train import CHECKPOINT, LoopConfig, device_batches, fit

OBS, ACT = 4, 2
SMALL = CNFConfig(actor_hidden=(32, 32), critic_hidden=(32, 32), batch_size=64)


def toy_transitions(n=512, seed=0):
    rng = np.random.default_rng(seed)
    observations = rng.standard_normal((n + 1, OBS)).astype(np.float32)
    timeouts = (np.arange(n) % 50) == 49
    terminals = np.zeros(n, bool)
    terminals[123] = True
    ends = timeouts | terminals
    ends[-1] = True
    return Transitions(
        observations[:-1], rng.uniform(-0.9, 0.9, (n, ACT)), rng.standard_normal(n), observations[1:],
        terminals, timeouts, ends,
    )


def toy_flow(latent="uniform"):
    module = ConditionalFlow(ACT, FlowConfig(blocks=2, hidden=16, latent=latent))
    key = jax.random.PRNGKey(0)
    params = module.init(key, jax.random.uniform(key, (64, ACT), minval=-0.9, maxval=0.9), jnp.zeros((64, OBS)), method=ConditionalFlow.encode)
    return FlowModel(params, jnp.zeros(OBS), jnp.ones(OBS), ACT, module.config)


@pytest.mark.parametrize(
    "config, latent",
    [
        (SMALL, "uniform"),
        (dataclasses.replace(SMALL, objective="plas"), "uniform"),
        (dataclasses.replace(SMALL, bounded_latent=False), "normal"),
    ],
)
def test_updates_keep_everything_finite(config, latent):
    agent = CNFAgent.create(jax.random.PRNGKey(1), toy_flow(latent), OBS, config)
    data = device_batches(toy_transitions())
    update = jax.jit(lambda agent, batch: agent.update(batch))
    for i in range(20):
        index = jax.random.randint(jax.random.PRNGKey(i), (64,), 0, 512)
        agent, metrics = update(agent, {k: v[index] for k, v in data.items()})
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(agent))
    actions = agent.act(jnp.asarray(toy_transitions().observations[:10]))
    assert actions.shape == (10, ACT) and bool(jnp.all(jnp.abs(actions) < 1))


def test_time_outs_do_not_stop_bootstrapping():
    transitions = toy_transitions()
    data = device_batches(transitions)
    assert float(data["terminals"][49]) == 0.0 and transitions.timeouts[49]
    assert float(data["terminals"][123]) == 1.0
    agent = CNFAgent.create(jax.random.PRNGKey(1), toy_flow(), OBS, SMALL)
    agent = agent.replace(target_critic_params=jax.tree_util.tree_map(lambda p: p + 0.5, agent.target_critic_params))
    rows = jnp.array([49, 123])
    batch = {k: v[rows] for k, v in data.items()}
    batch["rewards"] = jnp.zeros(2)
    target = agent.critic_target(batch, jax.random.PRNGKey(0))
    assert abs(float(target[0])) > 1e-3
    assert float(target[1]) == 0.0


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    transitions = toy_transitions()
    make = lambda: CNFAgent.create(jax.random.PRNGKey(3), toy_flow(), OBS, SMALL)
    no_eval = lambda agent: {}
    full = LoopConfig(updates=40, chunk=10, eval_every=10)
    straight, _ = fit(make(), transitions, full, 64, tmp_path / "straight", no_eval, seed=7, show_progress=False)
    fit(make(), transitions, dataclasses.replace(full, updates=20), 64, tmp_path / "killed", no_eval, seed=7, show_progress=False)
    assert (tmp_path / "killed" / CHECKPOINT).is_file()
    resumed, history = fit(make(), transitions, full, 64, tmp_path / "killed", no_eval, seed=7, resume=True, show_progress=False)
    assert [record["step"] for record in history] == [10, 20, 30, 40]
    for a, b in zip(jax.tree_util.tree_leaves(straight), jax.tree_util.tree_leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (tmp_path / "killed" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40]
