"""The conditional normalizing flow a <-> z given the state, with a bounded Uniform(-1, 1)^d latent.

Data -> latent: atanh, then `blocks` x (ActNorm, invertible linear, state-conditioned affine coupling),
then tanh (uniform latent) or nothing (the normal-latent ablation, base N(0, I)). The decoder the agents
use, latent -> action, is the exact inverse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnfrl.export.program import ProgramBuilder
from cnfrl.models.base import ActionModel
from cnfrl.models.bijectors import ACTION_CLIP, LATENT_CLIP, ActNorm, AffineCoupling, Atanh, Bijector, Inverse, InvertibleLinear
from cnfrl.networks import LOG2

Latent = Literal["uniform", "normal"]


@dataclass(frozen=True)
class FlowConfig:
    """Architecture of the conditional flow (the paper's values as defaults)."""

    blocks: int = 12
    hidden: int = 256
    latent: Latent = "uniform"


class ConditionalFlow(nn.Module):
    """Bijection between actions in (-1, 1)^d and latents, conditioned on a normalised state."""

    action_dim: int
    config: FlowConfig = FlowConfig()

    def setup(self) -> None:
        layers: list[Bijector] = [Atanh()]
        for block in range(self.config.blocks):
            layers += [ActNorm(), InvertibleLinear(), AffineCoupling(self.config.hidden, flip=block % 2 == 1)]
        if self.config.latent == "uniform":
            layers.append(Inverse(Atanh(clip=LATENT_CLIP)))
        self.layers = layers

    def encode(self, actions: jax.Array, states: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Action -> latent, with the log|det| of the whole forward map per sample."""
        x, total = actions, jnp.zeros(actions.shape[:-1])
        for layer in self.layers:
            x, log_det = layer.forward_and_log_det(x, states)
            total = total + log_det
        return x, total

    def cache_inverses(self) -> None:
        """Put every invertible linear layer's inverse matrix in the "frozen" collection (mutable=["frozen"])."""
        for layer in self.layers:
            if isinstance(layer, InvertibleLinear):
                layer.cache_inverse()

    def decode(self, latents: jax.Array, states: jax.Array) -> jax.Array:
        """Latent -> action: the exact inverse of `encode`; every latent in the box maps into (-1, 1)^d."""
        x = latents
        for layer in reversed(self.layers):
            x, _ = layer.inverse_and_log_det(x, states)
        return x

    def log_prob(self, actions: jax.Array, states: jax.Array) -> jax.Array:
        """Exact log p(a | s) = log p_base(z) + sum of every layer's log|det J| (atanh and tanh included)."""
        latents, log_det = self.encode(actions, states)
        return base_log_prob(latents, self.config.latent) + log_det

    @property
    def latent_dim(self) -> int:
        """The latent has the action's size."""
        return self.action_dim

    def loss(self, actions: jax.Array, states: jax.Array, key: jax.Array) -> jax.Array:
        """Per-sample training loss: the negative log-likelihood (`key` unused; the VAE's loss needs one)."""
        return -self.log_prob(actions, states)

    def sample(self, key: jax.Array, states: jax.Array) -> jax.Array:
        """Actions drawn from the flow for each state: z from the base distribution, decoded."""
        latents = sample_base(key, (*states.shape[:-1], self.action_dim), self.config.latent)
        return self.decode(latents, states)


def base_log_prob(latents: jax.Array, latent: Latent) -> jax.Array:
    """Log density of the base distribution: -d log 2 inside the uniform box, or the standard normal."""
    d = latents.shape[-1]
    if latent == "uniform":
        return jnp.full(latents.shape[:-1], -d * LOG2)
    return -0.5 * jnp.sum(latents**2, axis=-1) - 0.5 * d * jnp.log(2 * jnp.pi)


def sample_base(key: jax.Array, shape: tuple[int, ...], latent: Latent) -> jax.Array:
    """Draws from Uniform(-1, 1)^d or N(0, I)."""
    if latent == "uniform":
        return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
    return jax.random.normal(key, shape)


class FlowModel(ActionModel):
    """A trained, frozen flow with the state normalisation it was trained under; maps (latent, raw state) ->
    action for the agents, and gives exact log p(a | s)."""

    kind: ClassVar[str] = "flow"
    config_class: ClassVar[type] = FlowConfig

    @classmethod
    def build(cls, action_dim: int, config: FlowConfig) -> ConditionalFlow:
        """The conditional flow of this architecture."""
        return ConditionalFlow(action_dim, config)

    def frozen(self) -> FlowModel:
        """This flow with its invertible layers' inverse matrices computed once: the decoder an agent calls at
        every update then does no linear algebra (the same numbers as computing them there). Whoever changes the
        weights afterwards calls it again."""
        _, inverses = self.module.apply(self.params, method=ConditionalFlow.cache_inverses, mutable=["frozen"])
        return self.replace(params={**self.params, **inverses})

    def encode(self, actions: jax.Array, observations: jax.Array) -> jax.Array:
        """Action -> its latent for raw observations: the exact inverse of `decode`."""
        latents, _ = cast(
            tuple[jax.Array, jax.Array],
            self.module.apply(self.params, actions, self.normalize(observations), method=ConditionalFlow.encode),
        )
        return latents

    def log_prob(self, actions: jax.Array, observations: jax.Array) -> jax.Array:
        """Exact log p(a | s) for raw observations."""
        return cast(
            jax.Array, self.module.apply(self.params, actions, self.normalize(observations), method=ConditionalFlow.log_prob)
        )

    def export_decode(self, program: ProgramBuilder, latents: str, states: str, out: str) -> str:
        """The inverse pass of `ConditionalFlow` as export steps: each layer's inverse, last layer first."""
        params = self.params["params"]
        x = latents
        if self.config.latent == "uniform":
            x = program.step("atanh", [x], "flow_in", clip=LATENT_CLIP)
        for block in reversed(range(self.config.blocks)):
            base = 1 + 3 * block
            norm, linear, coupling = (params[f"layers_{base + i}"] for i in range(3))
            x = program.step(
                "coupling_inverse",
                [x, states],
                f"coupled_{block}",
                layers=program.layers(coupling),
                activation="prelu",
                slopes=[program.array(coupling[f"PReLU_{i}"]["negative_slope"]) for i in range(2)],
                dim=self.action_dim,
                a_size=self.action_dim // 2,
                flip=block % 2 == 1,
                rescale=program.array(coupling["rescale"]),
            )
            inverse = np.asarray(jnp.linalg.inv(linear["weight"])).T
            x = program.step("matmul", [x], f"mixed_{block}", matrix=program.array(inverse))
            x = program.step(
                "affine",
                [x],
                f"block_{block}",
                scale=program.array(np.exp(-np.asarray(norm["log_scale"]))),
                shift=program.array(-np.asarray(norm["bias"])),
            )
        program.step("tanh", [x], "flow_tanh")
        return program.step("clip", ["flow_tanh"], out, low=-ACTION_CLIP, high=ACTION_CLIP)
