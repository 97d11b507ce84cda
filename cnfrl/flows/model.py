"""A trained, frozen flow with the state normalisation it was trained under: what the agents decode with."""

from __future__ import annotations

import jax

from cnfrl.action_model import ActionModel
from cnfrl.flows.flow import ConditionalFlow, FlowConfig


class FlowModel(ActionModel):
    """Flow parameters plus the dataset's observation normaliser; maps (latent, raw state) -> action."""

    kind = "flow"

    @classmethod
    def build(cls, action_dim: int, config: FlowConfig) -> ConditionalFlow:
        """The conditional flow of this architecture."""
        return ConditionalFlow(action_dim, config)

    def log_prob(self, actions: jax.Array, observations: jax.Array) -> jax.Array:
        """Exact log p(a | s) for raw observations."""
        return self.module.apply(self.params, actions, self.normalize(observations), method=ConditionalFlow.log_prob)
