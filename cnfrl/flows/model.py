"""A trained, frozen flow with the state normalisation it was trained under: what the agents decode with."""

from __future__ import annotations

from typing import Any

import flax.struct as struct
import jax
import jax.numpy as jnp

from cnfrl.flows.flow import ConditionalFlow, FlowConfig


class FlowModel(struct.PyTreeNode):
    """Flow parameters plus the dataset's observation mean and std; maps (latent, raw state) -> action."""

    params: Any
    state_mean: jax.Array
    state_std: jax.Array
    action_dim: int = struct.field(pytree_node=False)
    config: FlowConfig = struct.field(pytree_node=False)

    @property
    def module(self) -> ConditionalFlow:
        """The Flax module the parameters belong to."""
        return ConditionalFlow(self.action_dim, self.config)

    def normalize(self, observations: jax.Array) -> jax.Array:
        """Raw observations -> the normalised states the flow is conditioned on."""
        return (observations - self.state_mean) / self.state_std

    def decode(self, latents: jax.Array, observations: jax.Array) -> jax.Array:
        """Latent -> action for raw observations (gradients flow through to the latents)."""
        return self.module.apply(self.params, latents, self.normalize(observations), method=ConditionalFlow.decode)

    def log_prob(self, actions: jax.Array, observations: jax.Array) -> jax.Array:
        """Exact log p(a | s) for raw observations."""
        return self.module.apply(self.params, actions, self.normalize(observations), method=ConditionalFlow.log_prob)

    def sample(self, key: jax.Array, observations: jax.Array) -> jax.Array:
        """Actions drawn from the flow for raw observations."""
        return self.module.apply(self.params, key, self.normalize(observations), method=ConditionalFlow.sample)

    def behaviour_action(self, observations: jax.Array) -> jax.Array:
        """BC through the flow: the decoded centre of the latent box (z = 0)."""
        return self.decode(jnp.zeros((*observations.shape[:-1], self.action_dim)), observations)
