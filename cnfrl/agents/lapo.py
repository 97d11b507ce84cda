"""LAPO (Chen et al. 2022): a latent policy on a conditional VAE that is itself trained during RL, with
advantage weights that focus it on the dataset's better actions.

Per update: twin Q and a state value V regress Q -> r + gamma (1 - terminal) V(s') and V -> the soft-min
double-Q of the target critics at the target policy's decoded action (clipped to the achievable range); the
VAE is fit with expectile weights on the advantage r + gamma Q'(s', pi'(s')) - V(s); the latent policy
max_latent_action * tanh(MLP(s)) maximises Q1 of the target VAE's decoding. Rewards are divided by the
dataset's largest absolute reward, as LAPO's locomotion scripts do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from cnfrl.action_model import ActionModel
from cnfrl.data.transitions import Transitions
from cnfrl.networks import MLP, Normalizer, TwinCritic, reward_scale, soft_min_q, soft_update
from cnfrl.vae import ConditionalVAE, VAEConfig

Batch = dict[str, jax.Array]


@dataclass(frozen=True)
class LAPOConfig:
    """LAPO's published hyper-parameters (expectile 0.9 of its locomotion scripts)."""

    vae: VAEConfig = VAEConfig(hidden=(256, 256, 256), latent_factor=2, kl_weight=1.0, sum_over_dims=True)
    actor_hidden: tuple[int, ...] = (256, 256, 256)
    critic_hidden: tuple[int, ...] = (256, 256, 256)
    vae_lr: float = 1e-4
    actor_lr: float = 1e-4
    critic_lr: float = 5e-4
    batch_size: int = 512
    gamma: float = 0.99
    tau: float = 0.005
    expectile: float = 0.9
    soft_min: float = 0.8
    latent_bound: float = 1.0


class LAPOAgent(struct.PyTreeNode):
    """VAE, latent policy, twin Q + V critics and their target copies, as one pytree."""

    vae: TrainState
    actor: TrainState
    critic: TrainState
    target_vae_params: Any
    target_actor_params: Any
    target_q_params: Any
    normalizer: Normalizer
    reward_scale: jax.Array
    value_range: jax.Array
    rng: jax.Array
    action_dim: int = struct.field(pytree_node=False)
    config: LAPOConfig = struct.field(pytree_node=False)

    @classmethod
    def create(cls, key: jax.Array, transitions: Transitions, model: ActionModel | None, config: LAPOConfig = LAPOConfig()) -> LAPOAgent:
        """Fresh networks; `model` is unused (LAPO trains its own VAE during RL)."""
        vae_key, actor_key, q_key, v_key, loss_key, rng = jax.random.split(key, 6)
        d = transitions.action_dim
        vae_def = ConditionalVAE(d, config.vae)
        states, actions = jnp.zeros((1, transitions.observation_dim)), jnp.zeros((1, d))
        vae_params = vae_def.init(vae_key, actions, states, loss_key, method="loss")
        actor_params = MLP(config.actor_hidden, vae_def.latent_dim).init(actor_key, states)["params"]
        critic_params = {
            "q": TwinCritic(config.critic_hidden).init(q_key, states, actions)["params"],
            "v": MLP(config.critic_hidden, 1).init(v_key, states)["params"],
        }
        scale = reward_scale(transitions, "max")
        value_range = jnp.array([transitions.rewards.min(), transitions.rewards.max()]) * scale / (1.0 - config.gamma)
        copy = lambda tree: jax.tree_util.tree_map(jnp.copy, tree)
        state = lambda params, lr: TrainState.create(apply_fn=None, params=params, tx=optax.adam(lr))
        return cls(
            vae=state(vae_params, config.vae_lr),
            actor=state(actor_params, config.actor_lr),
            critic=state(critic_params, config.critic_lr),
            target_vae_params=copy(vae_params),
            target_actor_params=copy(actor_params),
            target_q_params=copy(critic_params["q"]),
            normalizer=Normalizer.of(transitions),
            reward_scale=jnp.asarray(scale, jnp.float32),
            value_range=value_range.astype(jnp.float32),
            rng=rng,
            action_dim=d,
            config=config,
        )

    @property
    def _vae(self) -> ConditionalVAE:
        return ConditionalVAE(self.action_dim, self.config.vae)

    def decode(self, vae_params: Any, latents: jax.Array, states: jax.Array) -> jax.Array:
        """Latent -> action through a VAE decoder, for normalised states."""
        return self._vae.apply(vae_params, latents, states, method="decode")

    def policy_latent(self, params: Any, states: jax.Array) -> jax.Array:
        """The deterministic latent max_latent_action * tanh(MLP(s))."""
        return self.config.latent_bound * jnp.tanh(MLP(self.config.actor_hidden, self._vae.latent_dim).apply({"params": params}, states))

    def q(self, params: Any, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Both Q values, shape (2, batch)."""
        return TwinCritic(self.config.critic_hidden).apply({"params": params}, states, actions)

    def v(self, params: Any, states: jax.Array) -> jax.Array:
        """State values, shape (batch,)."""
        return MLP(self.config.critic_hidden, 1).apply({"params": params}, states)[..., 0]

    def _target_value(self, states: jax.Array) -> jax.Array:
        """Soft-min double-Q of the target critics at the target policy's decoded action."""
        actions = self.decode(self.target_vae_params, self.policy_latent(self.target_actor_params, states), states)
        return soft_min_q(self.q(self.target_q_params, states, actions), self.config.soft_min)

    def update(self, batch: Batch) -> tuple[LAPOAgent, dict[str, jax.Array]]:
        """Critic (Q and V) step, advantage-weighted VAE step, latent policy step, soft target updates."""
        rng, vae_key = jax.random.split(self.rng)
        gamma, not_done = self.config.gamma, 1.0 - batch["terminals"]
        states, next_states = self.normalizer(batch["observations"]), self.normalizer(batch["next_observations"])
        rewards = batch["rewards"] * self.reward_scale
        q_target = rewards + gamma * not_done * self.v(self.critic.params["v"], next_states)
        v_target = jnp.clip(self._target_value(states), self.value_range[0], self.value_range[1])
        q_target, v_target = jax.lax.stop_gradient(q_target), jax.lax.stop_gradient(v_target)

        def critic_loss(params):
            q = self.q(params["q"], states, batch["actions"])
            return ((q - q_target) ** 2).mean(axis=1).sum() + ((self.v(params["v"], states) - v_target) ** 2).mean()

        c_loss, grads = jax.value_and_grad(critic_loss)(self.critic.params)
        critic = self.critic.apply_gradients(grads=grads)

        advantage = rewards + gamma * not_done * self._target_value(next_states) - self.v(critic.params["v"], states)
        weights = jax.lax.stop_gradient(jnp.where(advantage > 0, self.config.expectile, 1.0 - self.config.expectile))

        def vae_loss(params):
            return (weights * self._vae.apply(params, batch["actions"], states, vae_key, method="loss")).mean()

        v_loss, grads = jax.value_and_grad(vae_loss)(self.vae.params)
        vae = self.vae.apply_gradients(grads=grads)

        def actor_loss(params):
            actions = self.decode(self.target_vae_params, self.policy_latent(params, states), states)
            return -self.q(critic.params["q"], states, actions)[0].mean()

        a_loss, grads = jax.value_and_grad(actor_loss)(self.actor.params)
        actor = self.actor.apply_gradients(grads=grads)
        tau = self.config.tau
        agent = self.replace(
            vae=vae,
            actor=actor,
            critic=critic,
            target_vae_params=soft_update(self.target_vae_params, vae.params, tau),
            target_actor_params=soft_update(self.target_actor_params, actor.params, tau),
            target_q_params=soft_update(self.target_q_params, critic.params["q"], tau),
            rng=rng,
        )
        return agent, {"critic_loss": c_loss, "vae_loss": v_loss, "actor_loss": a_loss, "positive_advantage": (advantage > 0).mean()}

    def act(self, observations: jax.Array) -> jax.Array:
        """The target VAE's decoding of the latent policy's action."""
        states = self.normalizer(observations)
        return self.decode(self.target_vae_params, self.policy_latent(self.actor.params, states), states)
