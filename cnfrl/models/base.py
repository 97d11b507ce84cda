"""The base of every action model: a trained, frozen generative model of the dataset's actions that the
latent agents decode with.

A flow and a conditional VAE both map (latent, state) -> action; this base pytree holds their parameters with
the state normaliser they were trained under, so an agent treats either the same way.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from cnfrl.errors import CnfrlError
from cnfrl.export.program import ProgramBuilder
from cnfrl.networks import Normalizer


class ActionModel(struct.PyTreeNode):
    """Parameters, observation normaliser, action size and architecture of a frozen action model."""

    params: Any
    normalizer: Normalizer
    action_dim: int = struct.field(pytree_node=False)
    config: Any = struct.field(pytree_node=False)

    kind: ClassVar[str] = "action model"
    config_class: ClassVar[type] = type(None)

    @classmethod
    def build(cls, action_dim: int, config: Any) -> nn.Module:
        """The Flax module for this architecture (subclasses say which)."""
        raise NotImplementedError

    @property
    def module(self) -> nn.Module:
        """The Flax module the parameters belong to."""
        return type(self).build(self.action_dim, self.config)

    @property
    def latent_dim(self) -> int:
        """Size of the latent an agent acts in."""
        return self.module.latent_dim

    def frozen(self) -> ActionModel:
        """The model as an agent decodes with it for a whole run, its parameters fixed: whatever depends on them
        alone computed once (a flow's inverse matrices); the model itself where nothing does."""
        return self

    def normalize(self, observations: jax.Array) -> jax.Array:
        """Raw observations -> the normalised states the model is conditioned on."""
        return self.normalizer(observations)

    def decode(self, latents: jax.Array, observations: jax.Array) -> jax.Array:
        """Latent -> action for raw observations (gradients flow through to the latents)."""
        return cast(jax.Array, self.module.apply(self.params, latents, self.normalize(observations), method="decode"))

    def sample(self, key: jax.Array, observations: jax.Array) -> jax.Array:
        """Actions drawn from the model for raw observations."""
        return cast(jax.Array, self.module.apply(self.params, key, self.normalize(observations), method="sample"))

    def behaviour_action(self, observations: jax.Array) -> jax.Array:
        """Behaviour cloning through the model: the decoded latent centre (z = 0)."""
        return self.decode(jnp.zeros((*observations.shape[:-1], self.latent_dim)), observations)

    def export_decode(self, program: ProgramBuilder, latents: str, states: str, out: str) -> str:
        """Write `decode` (latents and normalised states -> actions) as steps of an export program; returns `out`.
        Every action model that can be exported implements it."""
        raise CnfrlError(f"{type(self).__name__}: this action model cannot be exported yet")
