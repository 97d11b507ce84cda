"""IQL (Kostrikov et al. 2021, 'Offline Reinforcement Learning with Implicit Q-Learning'), as CORL's iql.py.

Per update, all from the networks as they were before it: a state value V regresses the minimum of the target
twin Q at the dataset's action by expectile regression (expectile 0.7); the twin Q regress r + gamma
(1 - terminal) V(s'); the actor, a Gaussian with mean tanh(MLP(s)) and a state-independent log std, maximises
the likelihood of the dataset's action weighted by min(exp(beta (min Q'(s, a) - V(s))), 100). The target Q
then moves towards the online Q. Rewards are scaled as IQL scales locomotion rewards (x 1000 / (max - min
episode return)), states normalised with the dataset's mean and std, and the actor's learning rate decays to 0
along a cosine over the run. The deterministic policy is the mean tanh(MLP(s)).
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
from flax.training.train_state import TrainState

from cnfrl.data.transitions import Transitions
from cnfrl.errors import CnfrlError
from cnfrl.export.program import ACTIONS, OBSERVATIONS, ProgramBuilder
from cnfrl.models.base import ActionModel
from cnfrl.networks import LOG_STD_MAX, LOG_STD_MIN, MLP, Batch, CriticEnsemble, Normalizer, TargetTrainState, reward_scale


@dataclass(frozen=True)
class IQLConfig:
    """IQL's published locomotion hyper-parameters (CORL's iql.py with its locomotion configs).

    `expectile` is V's expectile of Q (IQL's tau); `temperature` the advantage weight's inverse temperature
    (beta); `max_weight` caps exp(beta * advantage); `reward_scale` "iql" multiplies rewards by 1000 / (max - min
    episode return) ("none" keeps them, "max" divides by the largest). `value_lr` is V's learning rate, `critic_lr`
    the twin Q's; `actor_lr` is cosine-decayed to 0 over the run's updates.
    """

    actor_hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (256, 256)
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    gamma: float = 0.99
    tau: float = 5e-3
    expectile: float = 0.7
    temperature: float = 3.0
    max_weight: float = 100.0
    reward_scale: Literal["none", "iql", "max"] = "iql"


class GaussianPolicy(nn.Module):
    """CORL's IQL actor: state -> (mean tanh(MLP(s)), log std), the log std a free parameter clipped to [-20, 2]."""

    hidden: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, states: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = jnp.tanh(MLP(self.hidden, self.action_dim)(states))
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


class IQLAgent(struct.PyTreeNode):
    """Actor, twin Q (with its target) and V, the observation normaliser and the reward scale, as one pytree."""

    actor: TrainState
    critic: TargetTrainState
    value: TrainState
    normalizer: Normalizer
    reward_scale: jax.Array
    config: IQLConfig = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        key: jax.Array,
        transitions: Transitions,
        model: ActionModel | None,
        config: IQLConfig = IQLConfig(),
        updates: int | None = None,
    ) -> IQLAgent:
        """Fresh networks; `model` is unused (IQL needs no action model); `updates`, the run's length, sets the
        actor's cosine schedule."""
        if updates is None:
            raise CnfrlError("iql decays its actor's learning rate over the run's updates: pass the run's length")
        actor_key, critic_key, value_key = jax.random.split(key, 3)
        states, actions = jnp.zeros((1, transitions.observation_dim)), jnp.zeros((1, transitions.action_dim))
        actor_def = GaussianPolicy(config.actor_hidden, transitions.action_dim)
        critic_def = CriticEnsemble(config.critic_hidden)
        value_def = MLP(config.critic_hidden, 1)
        actor_lr = optax.cosine_decay_schedule(config.actor_lr, max(updates, 1))
        return cls(
            actor=TrainState.create(
                apply_fn=actor_def.apply, params=actor_def.init(actor_key, states)["params"], tx=optax.adam(actor_lr)
            ),
            critic=TargetTrainState.create_with_target(
                critic_def.apply, critic_def.init(critic_key, states, actions)["params"], optax.adam(config.critic_lr)
            ),
            value=TrainState.create(
                apply_fn=value_def.apply, params=value_def.init(value_key, states)["params"], tx=optax.adam(config.value_lr)
            ),
            normalizer=Normalizer.of(transitions),
            reward_scale=jnp.asarray(reward_scale(transitions, config.reward_scale), jnp.float32),
            config=config,
        )

    def q(self, params: Any, states: jax.Array, actions: jax.Array) -> jax.Array:
        """Both Q values, shape (2, batch), under the critic parameters `params`."""
        return self.critic.apply_fn({"params": params}, states, actions)

    def v(self, params: Any, states: jax.Array) -> jax.Array:
        """State values, shape (batch,), under the value parameters `params`."""
        return self.value.apply_fn({"params": params}, states)[..., 0]

    def update(self, batch: Batch) -> tuple[IQLAgent, dict[str, jax.Array]]:
        """A V step, a Q step and an actor step, each on the networks as they were before this update, then the
        soft update of the target Q."""
        states, next_states = self.normalizer(batch["observations"]), self.normalizer(batch["next_observations"])
        target_q = jax.lax.stop_gradient(self.q(self.critic.target_params, states, batch["actions"]).min(0))
        (value_loss, advantage), grads = jax.value_and_grad(self._value_loss, has_aux=True)(self.value.params, states, target_q)
        value = self.value.apply_gradients(grads=grads)
        (critic_loss, q_mean), grads = jax.value_and_grad(self._critic_loss, has_aux=True)(
            self.critic.params, batch, states, next_states
        )
        critic = self.critic.apply_gradients(grads=grads).soft_update(self.config.tau)
        (actor_loss, weight_mean), grads = jax.value_and_grad(self._actor_loss, has_aux=True)(
            self.actor.params, batch, states, advantage
        )
        actor = self.actor.apply_gradients(grads=grads)
        metrics = {
            "value_loss": value_loss,
            "critic_loss": critic_loss,
            "q": q_mean,
            "actor_loss": actor_loss,
            "weight_mean": weight_mean,
        }
        return self.replace(actor=actor, critic=critic, value=value), metrics

    def _value_loss(self, params: Any, states: jax.Array, target_q: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Expectile regression of V(s) on min Q'(s, a): |expectile - 1(u < 0)| u^2 with u = Q' - V."""
        advantage = target_q - self.v(params, states)
        weight = jnp.abs(self.config.expectile - (advantage < 0).astype(advantage.dtype))
        return (weight * advantage**2).mean(), jax.lax.stop_gradient(advantage)

    def _critic_loss(self, params: Any, batch: Batch, states: jax.Array, next_states: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Both Q -> scale * r + gamma (1 - terminal) V(s'), the two squared errors averaged; a time-out is not a
        terminal."""
        next_v = self.v(self.value.params, next_states)
        target = self.reward_scale * batch["rewards"] + self.config.gamma * (1.0 - batch["terminals"]) * next_v
        q = self.q(params, states, batch["actions"])
        return ((q - jax.lax.stop_gradient(target)) ** 2).mean(), q.mean()

    def _actor_loss(self, params: Any, batch: Batch, states: jax.Array, advantage: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Advantage-weighted regression: -min(exp(beta A), 100) log N(a; mean, std), summed over action dims."""
        weights = jnp.minimum(jnp.exp(self.config.temperature * advantage), self.config.max_weight)
        mean, log_std = self.actor.apply_fn({"params": params}, states)
        log_prob = jnp.sum(
            -0.5 * ((batch["actions"] - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1
        )
        return -(weights * log_prob).mean(), weights.mean()

    def act(self, observations: jax.Array) -> jax.Array:
        """The deterministic action: the Gaussian's mean tanh(MLP(s)) for raw observations."""
        mean, _ = self.actor.apply_fn({"params": self.actor.params}, self.normalizer(observations))
        return mean

    def export_policy(self, program: ProgramBuilder) -> None:
        """`act` as export steps: normalise, the actor's MLP, tanh."""
        program.normalize(OBSERVATIONS, "states", self.normalizer.mean, self.normalizer.std)
        program.dense_stack(["states"], "head", self.actor.params["MLP_0"])
        program.step("tanh", ["head"], ACTIONS)
