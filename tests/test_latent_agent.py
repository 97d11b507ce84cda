"""The latent actor-critic (CNF, PLAS and the ablations): bootstrapping through time-outs, PLAS+P's perturbation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnfrl.agents.latent import LatentAgent, LatentConfig
from cnfrl.data.transitions import Transitions
from cnfrl.errors import CnfrlError
from cnfrl.models.flow import ConditionalFlow, FlowConfig, FlowModel
from cnfrl.networks import Normalizer
from cnfrl.training.loop import device_batches

OBS, ACT = 4, 2
SMALL = LatentConfig(actor_hidden=(32, 32), critic_hidden=(32, 32))


def toy_transitions(n=512, seed=0):
    rng = np.random.default_rng(seed)
    observations = rng.standard_normal((n + 1, OBS)).astype(np.float32)
    timeouts = (np.arange(n) % 50) == 49
    terminals = np.zeros(n, bool)
    terminals[123] = True
    ends = timeouts | terminals
    ends[-1] = True
    return Transitions(
        observations[:-1],
        rng.uniform(-0.9, 0.9, (n, ACT)),
        rng.standard_normal(n),
        observations[1:],
        terminals,
        timeouts,
        ends,
    )


def toy_flow(latent="uniform"):
    module = ConditionalFlow(ACT, FlowConfig(blocks=2, hidden=16, latent=latent))
    key = jax.random.PRNGKey(0)
    params = module.init(
        key, jax.random.uniform(key, (64, ACT), minval=-0.9, maxval=0.9), jnp.zeros((64, OBS)), method=ConditionalFlow.encode
    )
    return FlowModel(params, Normalizer(jnp.zeros(OBS), jnp.ones(OBS)), ACT, module.config)


def test_time_outs_do_not_stop_bootstrapping():
    transitions = toy_transitions()
    data = device_batches(transitions)
    assert float(data["terminals"][49]) == 0.0 and transitions.timeouts[49]
    assert float(data["terminals"][123]) == 1.0
    agent = LatentAgent.create(jax.random.PRNGKey(1), transitions, toy_flow(), SMALL)
    shifted = jax.tree_util.tree_map(lambda p: p + 0.5, agent.critic.target_params)
    agent = agent.replace(critic=agent.critic.replace(target_params=shifted))
    rows = jnp.array([49, 123])
    batch = {k: v[rows] for k, v in data.items()}
    batch["rewards"] = jnp.zeros(2)
    target = agent.critic_target(batch, jax.random.PRNGKey(0))
    assert abs(float(target[0])) > 1e-3
    assert float(target[1]) == 0.0


def test_plas_perturbation_moves_decoded_actions_by_at_most_its_size():
    """PLAS+P: the perturbation layer corrects the decoded action by at most `perturbation` per dimension."""
    config = dataclasses.replace(SMALL, objective="plas", perturbation=0.05, perturbation_hidden=(16,))
    transitions = toy_transitions()
    agent = LatentAgent.create(jax.random.PRNGKey(2), transitions, toy_flow(), config)
    data = device_batches(transitions)
    agent, metrics = jax.jit(lambda agent, batch: agent.update(batch))(agent, {k: v[:64] for k, v in data.items()})
    assert all(np.isfinite(float(v)) for v in metrics.values())
    observations = jnp.asarray(transitions.observations[:32])
    states = agent.model.normalize(observations)
    decoded = agent.model.decode(agent.latent(agent.actor.params, states, None), observations)
    perturbed = agent.act(observations)
    gap = np.abs(np.asarray(perturbed - decoded))
    assert gap.max() <= 0.05 + 1e-6 and gap.max() > 0
    assert bool(jnp.all(jnp.abs(perturbed) <= 1))


def test_iql_reward_scale_is_1000_over_the_return_range():
    transitions = toy_transitions()
    returns = transitions.episode_returns()
    agent = LatentAgent.create(jax.random.PRNGKey(0), transitions, toy_flow(), dataclasses.replace(SMALL, reward_scale="iql"))
    assert np.isclose(float(agent.reward_scale), 1000.0 / (returns.max() - returns.min()), rtol=1e-5)
    assert float(LatentAgent.create(jax.random.PRNGKey(0), transitions, toy_flow(), SMALL).reward_scale) == 1.0


def test_min_log_std_keeps_the_actor_stochastic():
    """The floor holds even when the actor's head asks for a collapsed std."""
    config = dataclasses.replace(SMALL, min_log_std=-2.0)
    agent = LatentAgent.create(jax.random.PRNGKey(0), toy_transitions(), toy_flow(), config)
    params = jax.tree_util.tree_map(jnp.copy, agent.actor.params)
    head = params["head"]
    last = sorted(k for k in head if k.startswith("Dense"))[-1]
    head[last]["bias"] = head[last]["bias"].at[ACT:].set(-50.0)
    states = jnp.zeros((4, OBS))
    _, log_std = agent.actor.apply_fn({"params": params}, states, method="latent")
    assert np.allclose(np.asarray(log_std), -2.0)


def test_actor_warmup_regresses_with_unit_weights_then_advantage_weights():
    transitions = toy_transitions()
    data = device_batches(transitions)
    batch = {k: v[:64] for k, v in data.items()}
    config = dataclasses.replace(SMALL, actor_warmup=2, critic_layer_norm=True, independent_samples=True)
    agent = LatentAgent.create(jax.random.PRNGKey(3), transitions, toy_flow(), config)
    assert "LayerNorm_0" in agent.critic.params["VmapMLP_0"]
    update = jax.jit(lambda agent, batch: agent.update(batch))
    weights = []
    for _ in range(3):
        agent, metrics = update(agent, batch)
        weights.append(float(metrics["weight_mean"]))
    assert weights[:2] == [1.0, 1.0]
    assert weights[2] != 1.0 and np.isfinite(weights[2])


def test_a_checkpoint_of_an_earlier_layout_is_a_one_line_error_naming_the_version(tmp_path):
    """Before the train states carried their targets (target_*_params fields) and the frozen flow its inverses."""
    from flax import serialization

    from cnfrl.training.checkpoints import load_checkpoint

    agent = LatentAgent.create(jax.random.PRNGKey(5), toy_transitions(), toy_flow(), SMALL)
    state = serialization.to_state_dict(agent)
    for owner in ("actor", "critic"):
        state[f"target_{owner}_params"] = state[owner].pop("target_params")
    state["model"]["params"].pop("frozen")
    path = tmp_path / "old.msgpack"
    path.write_bytes(serialization.msgpack_serialize({"agent": state, "updates": 3, "history": "[]"}))
    with pytest.raises(CnfrlError, match="old.msgpack: not a checkpoint of this agent .* a version before 0.1.0 stamped"):
        load_checkpoint(path, agent)


def test_a_checkpoint_that_does_not_fit_or_is_damaged_is_a_one_line_error(tmp_path):
    from cnfrl.training.checkpoints import PREVIOUS, load_checkpoint, save_checkpoint

    agent = LatentAgent.create(jax.random.PRNGKey(5), toy_transitions(), toy_flow(), SMALL)
    other = LatentAgent.create(
        jax.random.PRNGKey(5), toy_transitions(), toy_flow(), dataclasses.replace(SMALL, actor_hidden=(8,))
    )
    path = tmp_path / "last.msgpack"
    save_checkpoint(path, agent, 3, [])
    with pytest.raises(CnfrlError, match=r"last.msgpack: not a checkpoint of this agent .*written by cnfrl 0.1.0"):
        load_checkpoint(path, other)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(
        CnfrlError, match="last.msgpack: truncated or corrupt .* start the run again: the same command with --overwrite"
    ):
        load_checkpoint(path, agent)
    save_checkpoint(path, agent, 3, [])
    save_checkpoint(path, agent, 5, [])
    assert (tmp_path / PREVIOUS).is_file()
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(
        CnfrlError, match=r"truncated or corrupt .*the previous checkpoint \(update 3\) is intact: mv .* --resume"
    ):
        load_checkpoint(path, agent)


def test_a_diverging_run_stops_with_a_message_and_keeps_its_last_good_checkpoint(tmp_path):
    """Rewards of 1e30 make the critic loss overflow: training stops, the checkpoint of the last evaluation stays."""
    from cnfrl.training.checkpoints import CHECKPOINT, load_checkpoint
    from cnfrl.training.loop import LoopConfig, fit

    transitions = toy_transitions()
    agent = LatentAgent.create(jax.random.PRNGKey(8), transitions, toy_flow(), SMALL)
    loop = LoopConfig(updates=20, batch_size=32, chunk=10, eval_every=10)
    fit(agent, transitions, loop, tmp_path, lambda agent: {"score_mean": 1.0}, seed=0, show_progress=False)
    good = (tmp_path / CHECKPOINT).read_bytes()
    exploding = transitions.replace(rewards=np.full(len(transitions), 1e30, np.float32))
    agent, _, _ = load_checkpoint(
        tmp_path / CHECKPOINT, LatentAgent.create(jax.random.PRNGKey(8), transitions, toy_flow(), SMALL)
    )
    longer = dataclasses.replace(loop, updates=60)
    with pytest.raises(
        CnfrlError,
        match=r"training diverged by update 30 \(.*critic_loss = (inf|nan).*\); the last good checkpoint \(update 20\) is kept",
    ):
        fit(agent, exploding, longer, tmp_path, lambda agent: {"score_mean": 1.0}, seed=0, resume=True, show_progress=False)
    assert (tmp_path / CHECKPOINT).read_bytes() == good
    assert all("Infinity" not in line and "NaN" not in line for line in (tmp_path / "metrics.jsonl").read_text().splitlines())


def test_critics_that_blow_up_while_finite_stop_the_run(tmp_path):
    """A critic learning rate of 1e3 sends Q far past what the rewards allow (|r| <= 1, gamma 0.99: 100) long
    before anything overflows; the run stops instead of ending with a plausible score."""
    from cnfrl.training.loop import LoopConfig, fit, q_limit

    transitions = toy_transitions()
    agent = LatentAgent.create(jax.random.PRNGKey(8), transitions, toy_flow(), dataclasses.replace(SMALL, critic_lr=1e3))
    limit = q_limit(agent, transitions)
    assert limit == pytest.approx(10 * float(np.abs(transitions.rewards).max()) / (1 - SMALL.gamma) + 1)
    loop = LoopConfig(updates=200, batch_size=32, chunk=10, eval_every=100)
    with pytest.raises(CnfrlError, match=r"training diverged by update \d+ \(q = .*, past .*, ten times the largest value"):
        fit(agent, transitions, loop, tmp_path, lambda agent: {"score_mean": 1.0}, seed=0, show_progress=False)
    healthy = LatentAgent.create(jax.random.PRNGKey(8), transitions, toy_flow(), SMALL)
    fit(healthy, transitions, loop, tmp_path / "healthy", lambda agent: {"score_mean": 1.0}, seed=0, show_progress=False)


def _scale_critic_outputs(agent: LatentAgent, factor: float) -> LatentAgent:
    """The same agent with both critics' values multiplied by `factor` (last layer's kernel and bias scaled)."""
    params = jax.tree_util.tree_map(lambda p: p, agent.critic.params)
    (ensemble,) = params
    last = max(params[ensemble], key=lambda name: int(name.split("_")[-1]))
    params[ensemble][last] = jax.tree_util.tree_map(lambda p: factor * p, params[ensemble][last])
    return agent.replace(critic=agent.critic.replace(params=params))


@pytest.mark.parametrize("bc_alpha", [0.0, 2.5])
def test_td3bc_actor_loss_does_not_depend_on_the_scale_of_q(bc_alpha):
    """bc_alpha > 0 normalises the Q term by its mean magnitude (TD3+BC), so Q x 10 leaves the actor's gradient as
    it was; the plain objective's gradient grows tenfold."""
    config = dataclasses.replace(SMALL, objective="plas", bc_alpha=bc_alpha)
    transitions = toy_transitions()
    agent = LatentAgent.create(jax.random.PRNGKey(3), transitions, toy_flow(), config)
    batch = {k: v[:64] for k, v in device_batches(transitions).items()}
    states = agent.model.normalize(batch["observations"])

    def actor_gradient(agent):
        grads, _ = jax.grad(agent._plas_loss, has_aux=True)(agent.actor.params, batch, states, jax.random.PRNGKey(0))
        return _flat(grads)

    ratio = np.linalg.norm(actor_gradient(_scale_critic_outputs(agent, 10.0))) / np.linalg.norm(actor_gradient(agent))
    assert ratio == pytest.approx(1.0 if bc_alpha > 0 else 10.0, rel=1e-3)
    _, info = agent._plas_loss(agent.actor.params, batch, states, jax.random.PRNGKey(0))
    assert ("bc_error" in info) == (bc_alpha > 0)


@pytest.mark.parametrize("critics", [2, 5])
def test_a_larger_critic_ensemble_gives_the_actor_its_minimum(critics):
    """agent.critics sets the ensemble's size; two critics keep TD3's and PLAS's actor on Q1, a larger ensemble
    (SAC-N's) maximises the minimum over all of them, and its critic target takes the same minimum."""
    config = dataclasses.replace(SMALL, objective="plas", critics=critics)
    transitions = toy_transitions()
    agent = LatentAgent.create(jax.random.PRNGKey(3), transitions, toy_flow(), config)
    batch = {k: v[:64] for k, v in device_batches(transitions).items()}
    states = agent.model.normalize(batch["observations"])
    q = agent.q(agent.critic.params, states, agent.policy_action(agent.actor.params, batch["observations"], None))
    assert q.shape == (critics, 64)
    loss, _ = agent._plas_loss(agent.actor.params, batch, states, jax.random.PRNGKey(0))
    expected = q[0] if critics == 2 else q.min(0)
    np.testing.assert_allclose(loss, -expected.mean(), rtol=1e-6)
    assert critics == 2 or not np.allclose(q[0].mean(), q.min(0).mean())
    next_actions = agent.policy_action(agent.actor.target_params, batch["next_observations"], None)
    next_q = agent.q(agent.critic.target_params, agent.model.normalize(batch["next_observations"]), next_actions)
    target = batch["rewards"] + config.gamma * (1.0 - batch["terminals"]) * next_q.min(0)
    np.testing.assert_allclose(agent.critic_target(batch, jax.random.PRNGKey(0)), target, rtol=1e-5, atol=1e-5)
    with pytest.raises(CnfrlError, match="agent.critics=0"):
        LatentAgent.create(jax.random.PRNGKey(3), transitions, toy_flow(), dataclasses.replace(config, critics=0))


def test_cosine_actor_schedule_reaches_zero_at_the_runs_last_update():
    """actor_lr_schedule cosine (IQL's actor schedule) decays over the run's updates: with a 2-update run the
    actor moves on updates 1 and 2, not after; without the run's length it is a one-line error."""
    transitions = toy_transitions()
    batch = {k: v[:64] for k, v in device_batches(transitions).items()}
    config = dataclasses.replace(SMALL, objective="plas", bc_alpha=2.5, actor_lr_schedule="cosine")
    with pytest.raises(CnfrlError, match="actor_lr_schedule"):
        LatentAgent.create(jax.random.PRNGKey(3), transitions, toy_flow(), config)
    agent = LatentAgent.create(jax.random.PRNGKey(3), transitions, toy_flow(), config, updates=2)
    params = [agent.actor.params]
    for _ in range(3):
        agent, _ = agent.update(batch)
        params.append(agent.actor.params)
    moved = [not np.array_equal(*map(_flat, pair)) for pair in zip(params[:-1], params[1:], strict=True)]
    assert moved == [True, True, False]


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(leaf) for leaf in jax.tree_util.tree_leaves(tree)])
