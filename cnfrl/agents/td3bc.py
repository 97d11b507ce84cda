"""TD3+BC (Fujimoto & Gu 2021, 'A Minimalist Approach to Offline Reinforcement Learning'), as CORL's td3_bc.py.

A deterministic actor tanh(MLP(s)) and twin critics, each with a target copy. Per update: the critics regress
r + gamma (1 - terminal) min Q'(s', clip(pi'(s') + clip(0.2 N(0, 1), -0.5, 0.5), -1, 1)); every second update
(policy_freq) the actor minimises -alpha Q1(s, pi(s)) / mean|Q1| + mean (pi(s) - a)^2 and the target actor and
target critics move towards the online networks. States are normalised with the dataset's mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from cnfrl.data.transitions import Transitions
from cnfrl.export.program import ACTIONS, OBSERVATIONS, ProgramBuilder
from cnfrl.models.base import ActionModel
from cnfrl.networks import MLP, Batch, CriticEnsemble, Normalizer, TargetTrainState


@dataclass(frozen=True)
class TD3BCConfig:
    """TD3+BC's published hyper-parameters (CORL's td3_bc.py defaults).

    `alpha` weighs the normalised Q term against the behaviour-cloning error; `policy_noise` and `noise_clip`
    are the target policy smoothing; `policy_freq` is how many critic updates pass per actor (and target) update.
    """

    actor_hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 5e-3
    alpha: float = 2.5
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_freq: int = 2


class TD3BCAgent(struct.PyTreeNode):
    """Actor and twin critics, each with its target, the observation normaliser and the smoothing noise's key."""

    actor: TargetTrainState
    critic: TargetTrainState
    normalizer: Normalizer
    rng: jax.Array
    config: TD3BCConfig = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        key: jax.Array,
        transitions: Transitions,
        model: ActionModel | None,
        config: TD3BCConfig = TD3BCConfig(),
        updates: int | None = None,
    ) -> TD3BCAgent:
        """Fresh networks; `model` and `updates` are unused (TD3+BC needs no action model, no schedule)."""
        actor_key, critic_key, rng = jax.random.split(key, 3)
        states, actions = jnp.zeros((1, transitions.observation_dim)), jnp.zeros((1, transitions.action_dim))
        actor_def = MLP(config.actor_hidden, transitions.action_dim)
        critic_def = CriticEnsemble(config.critic_hidden)
        return cls(
            actor=TargetTrainState.create_with_target(
                actor_def.apply, actor_def.init(actor_key, states)["params"], optax.adam(config.actor_lr)
            ),
            critic=TargetTrainState.create_with_target(
                critic_def.apply, critic_def.init(critic_key, states, actions)["params"], optax.adam(config.critic_lr)
            ),
            normalizer=Normalizer.of(transitions),
            rng=rng,
            config=config,
        )

    def policy(self, params: Any, states: jax.Array) -> jax.Array:
        """The deterministic action tanh(MLP(s)) for normalised states under the actor parameters `params`."""
        return jnp.tanh(self.actor.apply_fn({"params": params}, states))

    def q(self, params: Any, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Both critics' values, shape (2, batch), under the critic parameters `params`."""
        return self.critic.apply_fn({"params": params}, states, actions)

    def update(self, batch: Batch) -> tuple[TD3BCAgent, dict[str, jax.Array]]:
        """One critic step; on every `policy_freq`-th of them also an actor step and the soft target updates.

        The delayed part is computed every update and kept only on policy steps (a select, so the update stays
        free of Python control flow on traced values and can be jitted, scanned and vmapped)."""
        rng, noise_key = jax.random.split(self.rng)
        states = self.normalizer(batch["observations"])
        agent, critic_info = self._critic_step(batch, states, noise_key)
        delayed, actor_info = agent._actor_step(batch, states)
        tau = self.config.tau
        delayed = delayed.replace(actor=delayed.actor.soft_update(tau), critic=delayed.critic.soft_update(tau))
        policy_step = agent.critic.step % self.config.policy_freq == 0
        agent = jax.tree.map(lambda new, old: jnp.where(policy_step, new, old), delayed, agent)
        return agent.replace(rng=rng), {**critic_info, **actor_info}

    def _critic_step(self, batch: Batch, states: jax.Array, key: jax.Array) -> tuple[TD3BCAgent, dict[str, jax.Array]]:
        """Twin critics -> r + gamma (1 - terminal) min Q'(s', smoothed pi'(s')); a time-out is not a terminal."""
        config = self.config
        next_states = self.normalizer(batch["next_observations"])
        noise = jnp.clip(
            config.policy_noise * jax.random.normal(key, batch["actions"].shape), -config.noise_clip, config.noise_clip
        )
        next_actions = jnp.clip(self.policy(self.actor.target_params, next_states) + noise, -1.0, 1.0)
        next_q = self.q(self.critic.target_params, next_states, next_actions).min(0)
        target = jax.lax.stop_gradient(batch["rewards"] + config.gamma * (1.0 - batch["terminals"]) * next_q)

        def critic_loss(params: Any) -> tuple[jax.Array, jax.Array]:
            q = self.q(params, states, batch["actions"])
            return ((q - target) ** 2).mean(axis=1).sum(), q.mean()

        (loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(self.critic.params)
        return self.replace(critic=self.critic.apply_gradients(grads=grads)), {"critic_loss": loss, "q": q_mean}

    def _actor_step(self, batch: Batch, states: jax.Array) -> tuple[TD3BCAgent, dict[str, jax.Array]]:
        """-alpha Q1(s, pi(s)) / mean|Q1| (the scale without gradient) + mean (pi(s) - a)^2."""

        def actor_loss(params: Any) -> tuple[jax.Array, dict[str, jax.Array]]:
            actions = self.policy(params, states)
            q = self.q(self.critic.params, states, actions)[0]
            weight = self.config.alpha / jax.lax.stop_gradient(jnp.abs(q).mean())
            bc_error = ((actions - batch["actions"]) ** 2).mean()
            return -weight * q.mean() + bc_error, {"policy_q": q.mean(), "bc_error": bc_error}

        (loss, info), grads = jax.value_and_grad(actor_loss, has_aux=True)(self.actor.params)
        return self.replace(actor=self.actor.apply_gradients(grads=grads)), {"actor_loss": loss, **info}

    def act(self, observations: jax.Array) -> jax.Array:
        """The deterministic action tanh(MLP(s)) for raw observations."""
        return self.policy(self.actor.params, self.normalizer(observations))

    def export_policy(self, program: ProgramBuilder) -> None:
        """`act` as export steps: normalise, the actor's MLP, tanh."""
        program.normalize(OBSERVATIONS, "states", self.normalizer.mean, self.normalizer.std)
        program.dense_stack(["states"], "head", self.actor.params)
        program.step("tanh", ["head"], ACTIONS)
