"""Conservative Normalizing Flows: a latent actor-critic in the bounded latent space of a frozen flow.

The actor outputs a latent z in (-1, 1)^d (tanh of a Gaussian sample); the frozen flow decodes it to an
action, and twin critics judge decoded actions. Default objective, as in the authors' implementation:
advantage-weighted L1 regression through the decoder, w = min(exp((min Q(s, a_data) - min Q(s, a_pi)) /
lambda), 100). Option `objective="plas"`: a deterministic latent policy maximising Q1, with a target actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import flax.struct as struct
import jax
import jax.numpy as jnp
import optax
from flax.training.train_state import TrainState

from cnfrl.flows.model import FlowModel
from cnfrl.networks import GaussianHead, TwinCritic, soft_update

Batch = dict[str, jax.Array]


@dataclass(frozen=True)
class CNFConfig:
    """Latent actor-critic hyper-parameters (the reference implementation's values as defaults)."""

    actor_hidden: tuple[int, ...] = (256, 256, 256)
    critic_hidden: tuple[int, ...] = (256, 256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    batch_size: int = 512
    gamma: float = 0.99
    tau: float = 2e-3
    awr_lambda: float = 1.0 / 3.0
    max_weight: float = 100.0
    objective: Literal["awr", "plas"] = "awr"
    bounded_latent: bool = True


class CNFAgent(struct.PyTreeNode):
    """Actor, twin critics, target networks and the frozen flow, as one pytree."""

    actor: TrainState
    critic: TrainState
    target_actor_params: Any
    target_critic_params: Any
    flow: FlowModel
    rng: jax.Array
    config: CNFConfig = struct.field(pytree_node=False)

    @classmethod
    def create(cls, key: jax.Array, flow: FlowModel, observation_dim: int, config: CNFConfig = CNFConfig()) -> CNFAgent:
        """Fresh actor and critics on top of a trained flow."""
        actor_key, critic_key, rng = jax.random.split(key, 3)
        observations, actions = jnp.zeros((1, observation_dim)), jnp.zeros((1, flow.action_dim))
        actor_def, critic_def = GaussianHead(config.actor_hidden, flow.action_dim), TwinCritic(config.critic_hidden)
        actor_params = actor_def.init(actor_key, observations)["params"]
        critic_params = critic_def.init(critic_key, observations, actions)["params"]
        copy = lambda tree: jax.tree_util.tree_map(jnp.copy, tree)
        return cls(
            actor=TrainState.create(apply_fn=actor_def.apply, params=actor_params, tx=optax.adam(config.actor_lr)),
            critic=TrainState.create(apply_fn=critic_def.apply, params=critic_params, tx=optax.adam(config.critic_lr)),
            target_actor_params=copy(actor_params),
            target_critic_params=copy(critic_params),
            flow=flow,
            rng=rng,
            config=config,
        )

    def _squash(self, u: jax.Array) -> jax.Array:
        return jnp.tanh(u) if self.config.bounded_latent else u

    def latent(self, params: Any, states: jax.Array, key: jax.Array | None) -> jax.Array:
        """The actor's latent for normalised states: a sample when `key` is given, else the deterministic one."""
        mean, log_std = self.actor.apply_fn({"params": params}, states)
        if key is None or self.config.objective == "plas":
            return self._squash(mean)
        return self._squash(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape))

    def q(self, params: Any, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Both critics' values, shape (2, batch)."""
        return self.critic.apply_fn({"params": params}, states, actions)

    def critic_target(self, batch: Batch, key: jax.Array) -> jax.Array:
        """y = r + gamma (1 - terminal) min Q'(s', decode(z', s')); a time-out is not a terminal."""
        next_states = self.flow.normalize(batch["next_observations"])
        next_params = self.target_actor_params if self.config.objective == "plas" else self.actor.params
        next_actions = self.flow.decode(self.latent(next_params, next_states, key), batch["next_observations"])
        next_q = self.q(self.target_critic_params, next_states, next_actions).min(0)
        return jax.lax.stop_gradient(batch["rewards"] + self.config.gamma * (1.0 - batch["terminals"]) * next_q)

    def update(self, batch: Batch) -> tuple[CNFAgent, dict[str, jax.Array]]:
        """One critic step, one actor step, then the soft target updates."""
        rng, next_key, actor_key = jax.random.split(self.rng, 3)
        states = self.flow.normalize(batch["observations"])
        target = self.critic_target(batch, next_key)

        def critic_loss(params):
            q = self.q(params, states, batch["actions"])
            return ((q - target) ** 2).mean(axis=1).sum(), q.mean()

        (c_loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(self.critic.params)
        critic = self.critic.apply_gradients(grads=grads)
        agent = self.replace(critic=critic)
        actor_loss = agent._plas_loss if self.config.objective == "plas" else agent._awr_loss
        (a_loss, aux), grads = jax.value_and_grad(actor_loss, has_aux=True)(self.actor.params, batch, states, actor_key)
        actor = self.actor.apply_gradients(grads=grads)
        agent = agent.replace(
            actor=actor,
            target_actor_params=soft_update(self.target_actor_params, actor.params, self.config.tau),
            target_critic_params=soft_update(self.target_critic_params, critic.params, self.config.tau),
            rng=rng,
        )
        return agent, {"critic_loss": c_loss, "actor_loss": a_loss, "q": q_mean, **aux}

    def _awr_loss(self, params: Any, batch: Batch, states: jax.Array, key: jax.Array):
        policy_actions = self.flow.decode(self.latent(params, states, key), batch["observations"])
        q_data = self.q(self.critic.params, states, batch["actions"]).min(0)
        q_policy = self.q(self.critic.params, states, jax.lax.stop_gradient(policy_actions)).min(0)
        weights = jax.lax.stop_gradient(jnp.minimum(jnp.exp((q_data - q_policy) / self.config.awr_lambda), self.config.max_weight))
        loss = (weights[:, None] * jnp.abs(policy_actions - batch["actions"])).mean()
        return loss, {"weight_mean": weights.mean()}

    def _plas_loss(self, params: Any, batch: Batch, states: jax.Array, key: jax.Array):
        policy_actions = self.flow.decode(self.latent(params, states, None), batch["observations"])
        q = self.q(self.critic.params, states, policy_actions)[0]
        return -q.mean(), {"policy_q": q.mean()}

    def act(self, observations: jax.Array) -> jax.Array:
        """Deterministic actions for raw observations: decode the latent tanh(mean)."""
        states = self.flow.normalize(observations)
        return self.flow.decode(self.latent(self.actor.params, states, None), observations)
