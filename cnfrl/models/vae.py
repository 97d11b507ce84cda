"""The conditional VAE of PLAS and LAPO: encoder q(z | s, a), decoder a = tanh(MLP(s, z)), prior N(0, I).

PLAS pre-trains it and freezes it (hidden 750 x 2, KL weight 0.5, per-element mean losses); LAPO trains it
during RL with advantage weights (hidden 256 x 3, KL weight 1, per-sample sums). One module serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnfrl.export.program import ProgramBuilder
from cnfrl.models.base import ActionModel
from cnfrl.networks import MLP

POSTERIOR_LOG_STD_MIN, POSTERIOR_LOG_STD_MAX = -4.0, 15.0
SAMPLE_CLIP = 0.5


@dataclass(frozen=True)
class VAEConfig:
    """Architecture and loss of the conditional VAE (PLAS's values as defaults)."""

    hidden: tuple[int, ...] = (750, 750)
    latent_factor: int = 2
    kl_weight: float = 0.5
    sum_over_dims: bool = False


class ConditionalVAE(nn.Module):
    """Encoder on [state, action] -> (mean, log_std); decoder on [state, latent] -> action in (-1, 1)^d."""

    action_dim: int
    config: VAEConfig = VAEConfig()

    @property
    def latent_dim(self) -> int:
        """latent_factor x action size (2 x d in PLAS and LAPO)."""
        return self.config.latent_factor * self.action_dim

    def setup(self) -> None:
        self.encoder = MLP(self.config.hidden, 2 * self.latent_dim)
        self.decoder = MLP(self.config.hidden, self.action_dim)

    def encode(self, actions: jax.Array, states: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Posterior mean and log std for (state, action) pairs."""
        mean, log_std = jnp.split(self.encoder(jnp.concatenate([states, actions], -1)), 2, axis=-1)
        return mean, jnp.clip(log_std, POSTERIOR_LOG_STD_MIN, POSTERIOR_LOG_STD_MAX)

    def decode(self, latents: jax.Array, states: jax.Array) -> jax.Array:
        """Latent -> action for normalised states."""
        return jnp.tanh(self.decoder(jnp.concatenate([states, latents], -1)))

    def loss(self, actions: jax.Array, states: jax.Array, key: jax.Array) -> jax.Array:
        """Per-sample negative ELBO: reconstruction error + kl_weight x KL(q(z | s, a) || N(0, I))."""
        mean, log_std = self.encode(actions, states)
        latents = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
        squared = (self.decode(latents, states) - actions) ** 2
        kl = -0.5 * (1.0 + 2.0 * log_std - mean**2 - jnp.exp(2.0 * log_std))
        reduce = jnp.sum if self.config.sum_over_dims else jnp.mean
        return reduce(squared, axis=-1) + self.config.kl_weight * reduce(kl, axis=-1)

    def sample(self, key: jax.Array, states: jax.Array) -> jax.Array:
        """Actions decoded from prior latents clipped to +-0.5, as PLAS and BCQ sample."""
        latents = jnp.clip(jax.random.normal(key, (*states.shape[:-1], self.latent_dim)), -SAMPLE_CLIP, SAMPLE_CLIP)
        return self.decode(latents, states)


class VAEModel(ActionModel):
    """A frozen conditional VAE with its state normalisation; decodes (latent, raw state) -> action."""

    kind: ClassVar[str] = "vae"
    config_class: ClassVar[type] = VAEConfig

    @classmethod
    def build(cls, action_dim: int, config: VAEConfig) -> ConditionalVAE:
        """The conditional VAE of this architecture."""
        return ConditionalVAE(action_dim, config)

    def export_decode(self, program: ProgramBuilder, latents: str, states: str, out: str) -> str:
        """The decoder as export steps."""
        return export_vae_decoder(program, self.params["params"], latents, states, out)


def export_vae_decoder(program: ProgramBuilder, params: Any, latents: str, states: str, out: str) -> str:
    """A conditional VAE's decoder tanh(MLP([s, z])) as export steps, from its parameters (LAPO exports the VAE it
    trains this way)."""
    program.dense_stack([states, latents], f"{out}_raw", params["decoder"])
    return program.step("tanh", [f"{out}_raw"], out)
