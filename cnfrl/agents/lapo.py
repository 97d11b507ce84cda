"""LAPO (Chen et al. 2022): a latent policy on a conditional VAE that is itself trained during RL, with
advantage weights that focus it on the dataset's better actions.

Per update: twin Q and a state value V regress Q -> r + gamma (1 - terminal) V(s') and V -> the soft-min
double-Q of the target critics at the target policy's decoded action (clipped to the achievable range); the
VAE is fit with expectile weights on the advantage r + gamma Q'(s', pi'(s')) - V(s); the latent policy
max_latent_action * tanh(MLP(s)) maximises Q1 of the target VAE's decoding. Rewards are divided by the
dataset's largest absolute reward, as LAPO's locomotion scripts do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from cnfrl.data.transitions import Transitions
from cnfrl.export.program import ACTIONS, OBSERVATIONS, ProgramBuilder
from cnfrl.models.base import ActionModel
from cnfrl.models.vae import ConditionalVAE, VAEConfig, export_vae_decoder
from cnfrl.networks import MLP, Batch, CriticEnsemble, Normalizer, TargetTrainState, reward_scale, soft_min_q


@dataclass(frozen=True)
class LAPOConfig:
    """LAPO's published hyper-parameters (expectile 0.9 of its locomotion scripts)."""

    vae: VAEConfig = VAEConfig(hidden=(256, 256, 256), latent_factor=2, kl_weight=1.0, sum_over_dims=True)
    actor_hidden: tuple[int, ...] = (256, 256, 256)
    critic_hidden: tuple[int, ...] = (256, 256, 256)
    vae_lr: float = 1e-4
    actor_lr: float = 1e-4
    critic_lr: float = 5e-4
    gamma: float = 0.99
    tau: float = 0.005
    expectile: float = 0.9
    soft_min: float = 0.8
    latent_bound: float = 1.0


class LAPOAgent(struct.PyTreeNode):
    """VAE, latent policy and twin Q + V critics, each with its target copy, as one pytree."""

    vae: TargetTrainState
    actor: TargetTrainState
    critic: TargetTrainState
    normalizer: Normalizer
    reward_scale: jax.Array
    value_range: jax.Array
    rng: jax.Array
    config: LAPOConfig = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        key: jax.Array,
        transitions: Transitions,
        model: ActionModel | None,
        config: LAPOConfig = LAPOConfig(),
        updates: int | None = None,
    ) -> LAPOAgent:
        """Fresh networks; `model` and `updates` are unused (LAPO trains its own VAE during RL, at constant rates)."""
        vae_key, actor_key, q_key, v_key, loss_key, rng = jax.random.split(key, 6)
        vae_def = ConditionalVAE(transitions.action_dim, config.vae)
        actor_def = MLP(config.actor_hidden, vae_def.latent_dim)
        critic_def = QAndValue(config.critic_hidden)
        states, actions = jnp.zeros((1, transitions.observation_dim)), jnp.zeros((1, transitions.action_dim))
        vae_params = vae_def.init(vae_key, actions, states, loss_key, method="loss")
        critic_params = {
            "q_net": CriticEnsemble(config.critic_hidden).init(q_key, states, actions)["params"],
            "v_net": MLP(config.critic_hidden, 1).init(v_key, states)["params"],
        }
        scale = reward_scale(transitions, "max")
        value_range = jnp.array([transitions.rewards.min(), transitions.rewards.max()]) * scale / (1.0 - config.gamma)
        return cls(
            vae=TargetTrainState.create_with_target(vae_def.apply, vae_params, optax.adam(config.vae_lr)),
            actor=TargetTrainState.create_with_target(
                actor_def.apply, actor_def.init(actor_key, states)["params"], optax.adam(config.actor_lr)
            ),
            critic=TargetTrainState.create_with_target(critic_def.apply, critic_params, optax.adam(config.critic_lr)),
            normalizer=Normalizer.of(transitions),
            reward_scale=jnp.asarray(scale, jnp.float32),
            value_range=value_range.astype(jnp.float32),
            rng=rng,
            config=config,
        )

    def decode(self, vae_params: Any, latents: jax.Array, states: jax.Array) -> jax.Array:
        """Latent -> action through a VAE decoder, for normalised states."""
        return self.vae.apply_fn(vae_params, latents, states, method="decode")

    def policy_latent(self, params: Any, states: jax.Array) -> jax.Array:
        """The deterministic latent max_latent_action * tanh(MLP(s))."""
        return self.config.latent_bound * jnp.tanh(self.actor.apply_fn({"params": params}, states))

    def q(self, params: Any, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Both Q values, shape (2, batch), under the critic parameters `params`."""
        return self.critic.apply_fn({"params": params}, states, actions, method="q")

    def v(self, params: Any, states: jax.Array) -> jax.Array:
        """State values, shape (batch,), under the critic parameters `params`."""
        return self.critic.apply_fn({"params": params}, states, method="v")

    def _target_value(self, states: jax.Array) -> jax.Array:
        """Soft-min double-Q of the target critics at the target policy's decoded action."""
        actions = self.decode(self.vae.target_params, self.policy_latent(self.actor.target_params, states), states)
        return soft_min_q(self.q(self.critic.target_params, states, actions), self.config.soft_min)

    def update(self, batch: Batch) -> tuple[LAPOAgent, dict[str, jax.Array]]:
        """Critic (Q and V) step, advantage-weighted VAE step, latent policy step, soft target updates."""
        rng, vae_key = jax.random.split(self.rng)
        states, next_states = self.normalizer(batch["observations"]), self.normalizer(batch["next_observations"])
        critic_loss, grads = jax.value_and_grad(self._critic_loss)(self.critic.params, batch, states, next_states)
        agent = self.replace(critic=self.critic.apply_gradients(grads=grads))
        (vae_loss, positive), grads = jax.value_and_grad(agent._vae_loss, has_aux=True)(
            self.vae.params, batch, states, next_states, vae_key
        )
        agent = agent.replace(vae=agent.vae.apply_gradients(grads=grads))
        actor_loss, grads = jax.value_and_grad(agent._actor_loss)(self.actor.params, states)
        agent = agent.replace(actor=agent.actor.apply_gradients(grads=grads))
        tau = self.config.tau
        agent = agent.replace(
            vae=agent.vae.soft_update(tau), actor=agent.actor.soft_update(tau), critic=agent.critic.soft_update(tau), rng=rng
        )
        return agent, {"critic_loss": critic_loss, "vae_loss": vae_loss, "actor_loss": actor_loss, "positive_advantage": positive}

    def _critic_loss(self, params: Any, batch: Batch, states: jax.Array, next_states: jax.Array) -> jax.Array:
        """Q -> r + gamma (1 - terminal) V(s') (online V, no gradient); V -> the clipped target soft-min Q."""
        not_done = 1.0 - batch["terminals"]
        q_target = batch["rewards"] * self.reward_scale + self.config.gamma * not_done * self.v(self.critic.params, next_states)
        v_target = jnp.clip(self._target_value(states), self.value_range[0], self.value_range[1])
        q_target, v_target = jax.lax.stop_gradient(q_target), jax.lax.stop_gradient(v_target)
        return ((self.q(params, states, batch["actions"]) - q_target) ** 2).mean(axis=1).sum() + (
            (self.v(params, states) - v_target) ** 2
        ).mean()

    def _vae_loss(self, params: Any, batch: Batch, states: jax.Array, next_states: jax.Array, key: jax.Array):
        """The VAE's ELBO with expectile weights on the advantage r + gamma Q'(s', pi'(s')) - V(s)."""
        not_done = 1.0 - batch["terminals"]
        advantage = batch["rewards"] * self.reward_scale + self.config.gamma * not_done * self._target_value(next_states)
        advantage = advantage - self.v(self.critic.params, states)
        weights = jax.lax.stop_gradient(jnp.where(advantage > 0, self.config.expectile, 1.0 - self.config.expectile))
        loss = (weights * self.vae.apply_fn(params, batch["actions"], states, key, method="loss")).mean()
        return loss, (advantage > 0).mean()

    def _actor_loss(self, params: Any, states: jax.Array) -> jax.Array:
        """-Q1 of the target VAE's decoding of the policy's latent."""
        actions = self.decode(self.vae.target_params, self.policy_latent(params, states), states)
        return -self.q(self.critic.params, states, actions)[0].mean()

    def act(self, observations: jax.Array) -> jax.Array:
        """The target VAE's decoding of the latent policy's action."""
        states = self.normalizer(observations)
        return self.decode(self.vae.target_params, self.policy_latent(self.actor.params, states), states)

    def export_policy(self, program: ProgramBuilder) -> None:
        """`act` as export steps: the latent policy, bounded, then the target VAE's decoder."""
        program.normalize(OBSERVATIONS, "states", self.normalizer.mean, self.normalizer.std)
        program.dense_stack(["states"], "head", self.actor.params)
        program.step("tanh", ["head"], "squashed")
        program.step("scale", ["squashed"], "latents", factor=float(self.config.latent_bound))
        export_vae_decoder(program, self.vae.target_params["params"], "latents", "states", ACTIONS)


class QAndValue(nn.Module):
    """LAPO's critics as one module: twin Q(s, a) and a state value V(s), trained by one optimiser."""

    hidden: Sequence[int]

    def setup(self) -> None:
        self.q_net = CriticEnsemble(self.hidden)
        self.v_net = MLP(self.hidden, 1)

    def q(self, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Both Q values, shape (2, batch)."""
        return self.q_net(states, actions)

    def v(self, states: jax.Array) -> jax.Array:
        """State values, shape (batch,)."""
        return self.v_net(states)[..., 0]
