"""The latent actor-critic behind CNF, PLAS and the paper's ablations.

An actor acts in the latent space of a frozen action model (a flow for CNF, a conditional VAE for PLAS); the
model decodes the latent to an action and critics (a twin pair unless `critics` says more) judge decoded
actions. Two objectives:
- "awr" (CNF, the authors' implementation): a Gaussian latent actor squashed by tanh, trained by
  advantage-weighted L1 regression through the decoder, w = min(exp((min Q(s, a_data) - min Q(s, a_pi)) /
  lambda), 100); the critic target samples the actor, no target actor.
- "plas" (PLAS, and CNF's PLAS-style option): a deterministic latent actor maximising Q1 of the decoded
  action, with a target actor, an optional perturbation of the decoded action (PLAS+P) and the soft
  clipped double-Q target soft_min * min + (1 - soft_min) * max. With `bc_alpha` > 0 its loss is TD3+BC's,
  -alpha Q1 / mean|Q1| + mean (a_pi - a_data)^2: the decoded action is also pulled towards the data's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from cnfrl.data.transitions import Transitions
from cnfrl.errors import CnfrlError
from cnfrl.export.program import ACTIONS, OBSERVATIONS, ProgramBuilder
from cnfrl.models.base import ActionModel
from cnfrl.networks import LOG_STD_MAX, LOG_STD_MIN, MLP, Batch, CriticEnsemble, TargetTrainState, reward_scale, soft_min_q


@dataclass(frozen=True)
class LatentConfig:
    """Hyper-parameters of the latent actor-critic (CNF's reference values as defaults).

    `latent_bound` is the box the actor acts in (PLAS's max_latent_action); `bounded_latent=False` drops the
    actor's tanh (the unbounded ablation); `perturbation` > 0 adds PLAS+P's perturbation of that size.

    Departures from the authors' "awr" objective, all off by default (`cnf-steady` turns on four of them):
    `reward_scale` "iql" multiplies rewards by 1000 / (max - min episode return) so that `awr_lambda` means
    the same on every dataset ("max" divides them by the largest reward, as LAPO); `independent_samples`
    draws the latent that sets the weight apart from the one regressed (as the authors' code does);
    `min_log_std` floors the actor's log std so it keeps some entropy; `critic_layer_norm` puts LayerNorm in
    the critics; the first `actor_warmup` updates regress with unit weights (BC through the action model)
    while the critics learn. `bc_alpha` > 0 turns the "plas" objective into TD3+BC's (Fujimoto & Gu 2021):
    the Q term normalised by its batch mean magnitude and weighted by alpha, plus a squared error between the
    decoded action and the data's ("awr" ignores it). `actor_lr_schedule` "cosine" decays the actor's learning
    rate to 0 over the run's updates, as IQL's actor (the critics keep theirs). `critics` > 2 trains that many
    critics (SAC-N's ensemble): the target and the "plas" actor then take the minimum over all of them.
    """

    actor_hidden: tuple[int, ...] = (256, 256, 256)
    critic_hidden: tuple[int, ...] = (256, 256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 2e-3
    objective: Literal["awr", "plas"] = "awr"
    awr_lambda: float = 1.0 / 3.0
    max_weight: float = 100.0
    bounded_latent: bool = True
    latent_bound: float = 1.0
    soft_min: float = 1.0
    perturbation: float = 0.0
    perturbation_hidden: tuple[int, ...] = (400, 300)
    reward_scale: Literal["none", "iql", "max"] = "none"
    independent_samples: bool = False
    min_log_std: float = LOG_STD_MIN
    critic_layer_norm: bool = False
    actor_warmup: int = 0
    bc_alpha: float = 0.0
    actor_lr_schedule: Literal["constant", "cosine"] = "constant"
    critics: int = 2


class LatentActor(nn.Module):
    """State -> latent head (mean and log std, or a deterministic latent) and, for PLAS+P, a perturbation."""

    hidden: Sequence[int]
    latent_dim: int
    action_dim: int
    stochastic: bool
    perturbation_hidden: Sequence[int] = ()
    min_log_std: float = LOG_STD_MIN

    def setup(self) -> None:
        self.head = MLP(self.hidden, (2 if self.stochastic else 1) * self.latent_dim)
        if self.perturbation_hidden:
            self.perturbation = MLP(self.perturbation_hidden, self.action_dim)

    def latent(self, states: jax.Array) -> tuple[jax.Array, jax.Array | None]:
        """Pre-squash latent mean and, for a stochastic actor, its clipped log std."""
        out = self.head(states)
        if not self.stochastic:
            return out, None
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, self.min_log_std, LOG_STD_MAX)

    def correction(self, states: jax.Array, actions: jax.Array) -> jax.Array:
        """A correction in (-1, 1)^d of decoded actions, scaled by the agent."""
        return jnp.tanh(self.perturbation(jnp.concatenate([states, actions], -1)))

    def __call__(self, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Touch every sub-network once (what `init` calls to create all parameters)."""
        mean, _ = self.latent(states)
        return mean.sum() + (self.correction(states, actions).sum() if self.perturbation_hidden else 0.0)


class LatentAgent(struct.PyTreeNode):
    """Actor and critics, each with its target, and the frozen action model, as one pytree."""

    actor: TargetTrainState
    critic: TargetTrainState
    model: ActionModel
    reward_scale: jax.Array
    rng: jax.Array
    config: LatentConfig = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        key: jax.Array,
        transitions: Transitions,
        model: ActionModel | None,
        config: LatentConfig = LatentConfig(),
        updates: int | None = None,
    ) -> LatentAgent:
        """Fresh actor and critics on top of a trained action model; `updates`, the run's length, sets the cosine
        schedule's horizon."""
        if model is None:
            raise CnfrlError("the latent actor-critic acts through an action model; pre-train a flow or VAE first")
        if config.critics < 1:
            raise CnfrlError(f"agent.critics={config.critics}: the actor-critic needs at least one critic; 2 is TD3's pair")
        actor_key, critic_key, rng = jax.random.split(key, 3)
        observations, actions = jnp.zeros((1, transitions.observation_dim)), jnp.zeros((1, model.action_dim))
        actor_def = _actor(config, model)
        actor_params = actor_def.init(actor_key, observations, actions)["params"]
        critic_def = CriticEnsemble(config.critic_hidden, config.critic_layer_norm, config.critics)
        critic_params = critic_def.init(critic_key, observations, actions)["params"]
        return cls(
            actor=TargetTrainState.create_with_target(actor_def.apply, actor_params, optax.adam(_actor_lr(config, updates))),
            critic=TargetTrainState.create_with_target(critic_def.apply, critic_params, optax.adam(config.critic_lr)),
            model=model.frozen(),
            reward_scale=jnp.asarray(reward_scale(transitions, config.reward_scale), jnp.float32),
            rng=rng,
            config=config,
        )

    def latent(self, params: Any, states: jax.Array, key: jax.Array | None) -> jax.Array:
        """The actor's latent for normalised states: a sample when `key` is given, else the deterministic one."""
        mean, log_std = self.actor.apply_fn({"params": params}, states, method=LatentActor.latent)
        u = mean if key is None or log_std is None else mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        return self.config.latent_bound * jnp.tanh(u) if self.config.bounded_latent else u

    def policy_action(self, params: Any, observations: jax.Array, key: jax.Array | None) -> jax.Array:
        """Decoded action of the actor with `params` (perturbed and clipped for PLAS+P)."""
        states = self.model.normalize(observations)
        actions = self.model.decode(self.latent(params, states, key), observations)
        if self.config.perturbation > 0:
            correction = self.actor.apply_fn({"params": params}, states, actions, method=LatentActor.correction)
            actions = jnp.clip(actions + self.config.perturbation * correction, -1.0, 1.0)
        return actions

    def q(self, params: Any, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Every critic's value, shape (critics, batch)."""
        return self.critic.apply_fn({"params": params}, states, actions)

    def critic_target(self, batch: Batch, key: jax.Array) -> jax.Array:
        """y = r + gamma (1 - terminal) softmin Q'(s', a'); a time-out is not a terminal."""
        next_params = self.actor.target_params if self.config.objective == "plas" else self.actor.params
        next_actions = self.policy_action(next_params, batch["next_observations"], key)
        next_q = self.q(self.critic.target_params, self.model.normalize(batch["next_observations"]), next_actions)
        value = soft_min_q(next_q, self.config.soft_min)
        return jax.lax.stop_gradient(
            self.reward_scale * batch["rewards"] + self.config.gamma * (1.0 - batch["terminals"]) * value
        )

    def update(self, batch: Batch) -> tuple[LatentAgent, dict[str, jax.Array]]:
        """One critic step, one actor step, then the soft target updates."""
        rng, next_key, actor_key = jax.random.split(self.rng, 3)
        states = self.model.normalize(batch["observations"])
        agent, critic_info = self._critic_step(batch, states, next_key)
        agent, actor_info = agent._actor_step(batch, states, actor_key)
        tau = self.config.tau
        agent = agent.replace(actor=agent.actor.soft_update(tau), critic=agent.critic.soft_update(tau), rng=rng)
        return agent, {**critic_info, **actor_info}

    def _critic_step(self, batch: Batch, states: jax.Array, key: jax.Array) -> tuple[LatentAgent, dict[str, jax.Array]]:
        target = self.critic_target(batch, key)

        def critic_loss(params):
            q = self.q(params, states, batch["actions"])
            return ((q - target) ** 2).mean(axis=1).sum(), q.mean()

        (loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(self.critic.params)
        return self.replace(critic=self.critic.apply_gradients(grads=grads)), {"critic_loss": loss, "q": q_mean}

    def _actor_step(self, batch: Batch, states: jax.Array, key: jax.Array) -> tuple[LatentAgent, dict[str, jax.Array]]:
        actor_loss = self._plas_loss if self.config.objective == "plas" else self._awr_loss
        (loss, info), grads = jax.value_and_grad(actor_loss, has_aux=True)(self.actor.params, batch, states, key)
        return self.replace(actor=self.actor.apply_gradients(grads=grads)), {"actor_loss": loss, **info}

    def _awr_loss(self, params: Any, batch: Batch, states: jax.Array, key: jax.Array):
        policy_actions = self.policy_action(params, batch["observations"], key)
        advantage = self._advantage(params, batch, states, key, policy_actions)
        weights = jax.lax.stop_gradient(jnp.minimum(jnp.exp(advantage / self.config.awr_lambda), self.config.max_weight))
        weights = jnp.where(self.critic.step <= self.config.actor_warmup, 1.0, weights)
        loss = (weights[:, None] * jnp.abs(policy_actions - batch["actions"])).mean()
        return loss, {"weight_mean": weights.mean()}

    def _advantage(self, params: Any, batch: Batch, states: jax.Array, key: jax.Array, policy_actions: jax.Array) -> jax.Array:
        baseline_actions = policy_actions
        if self.config.independent_samples:
            baseline_actions = self.policy_action(params, batch["observations"], jax.random.fold_in(key, 1))
        q_data = self.q(self.critic.params, states, batch["actions"]).min(0)
        return q_data - self.q(self.critic.params, states, jax.lax.stop_gradient(baseline_actions)).min(0)

    def _plas_loss(self, params: Any, batch: Batch, states: jax.Array, key: jax.Array):
        policy_actions = self.policy_action(params, batch["observations"], None)
        q = self.q(self.critic.params, states, policy_actions)
        q = q[0] if self.config.critics == 2 else q.min(0)
        if self.config.bc_alpha <= 0:
            return -q.mean(), {"policy_q": q.mean()}
        q_weight = self.config.bc_alpha / jax.lax.stop_gradient(jnp.abs(q).mean())
        bc_error = ((policy_actions - batch["actions"]) ** 2).mean()
        return -q_weight * q.mean() + bc_error, {"policy_q": q.mean(), "bc_error": bc_error}

    def act(self, observations: jax.Array) -> jax.Array:
        """Deterministic actions for raw observations: the decoded latent tanh(mean)."""
        return self.policy_action(self.actor.params, observations, None)

    def export_policy(self, program: ProgramBuilder) -> None:
        """`act` as export steps: the actor's deterministic latent, bounded, decoded by the action model (then
        PLAS+P's perturbation when it has one)."""
        config, params = self.config, self.actor.params
        program.normalize(OBSERVATIONS, "states", self.model.normalizer.mean, self.model.normalizer.std)
        head = program.dense_stack(["states"], "head", params["head"])
        if config.objective == "awr":
            head = program.step("slice", [head], "mean", start=0, stop=self.model.latent_dim)
        if config.bounded_latent:
            program.step("tanh", [head], "squashed")
            head = program.step("scale", ["squashed"], "latents", factor=float(config.latent_bound))
        decoded = self.model.export_decode(program, head, "states", ACTIONS if config.perturbation <= 0 else "decoded")
        if config.perturbation > 0:
            program.dense_stack(["states", decoded], "correction_raw", params["perturbation"])
            program.step("tanh", ["correction_raw"], "correction")
            program.step("axpy", [decoded, "correction"], "perturbed", factor=float(config.perturbation))
            program.step("clip", ["perturbed"], ACTIONS, low=-1.0, high=1.0)


def _actor_lr(config: LatentConfig, updates: int | None) -> float | optax.Schedule:
    if config.actor_lr_schedule == "constant":
        return config.actor_lr
    if updates is None:
        raise CnfrlError("agent.actor_lr_schedule=cosine decays over the run's updates: pass the run's length")
    return optax.cosine_decay_schedule(config.actor_lr, max(updates, 1))


def _actor(config: LatentConfig, model: ActionModel) -> LatentActor:
    perturbation_hidden = config.perturbation_hidden if config.perturbation > 0 else ()
    return LatentActor(
        config.actor_hidden,
        model.latent_dim,
        model.action_dim,
        config.objective == "awr",
        perturbation_hidden,
        config.min_log_std,
    )
