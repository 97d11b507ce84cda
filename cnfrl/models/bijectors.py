"""Bijective layers of the conditional flow, in distrax's vocabulary: forward is data -> latent.

Every layer is a `Bijector`: `forward_and_log_det(x, context)` returns (y, log|det dy/dx|) per sample and
`inverse_and_log_det(y, context)` returns (x, log|det dx/dy|), so the two log-determinants of a round trip
cancel. A layer with parameters writes its map once, in `__call__(x, context, inverse)`, so that forward and
inverse share the parameters Flax creates on first use; parameters that depend on data (ActNorm) are set from
the batch the flow is initialised with.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnfrl.networks import tanh_log_det

ACTION_CLIP = 1.0 - 1e-5
LATENT_CLIP = 1.0 - 1e-6


class Bijector(nn.Module):
    """A bijection x <-> y with both directions named; subclasses implement `__call__(x, context, inverse)`."""

    def forward_and_log_det(self, x: jax.Array, context: jax.Array) -> tuple[jax.Array, jax.Array]:
        """y = f(x; context) and log|det df/dx| per sample."""
        return self(x, context, inverse=False)

    def inverse_and_log_det(self, y: jax.Array, context: jax.Array) -> tuple[jax.Array, jax.Array]:
        """x = f^-1(y; context) and log|det df^-1/dy| per sample."""
        return self(y, context, inverse=True)


class Atanh(Bijector):
    """(-1, 1)^d -> R^d: clip to +-`clip`, then atanh; its inverse is tanh, clipped to the same box."""

    clip: float = ACTION_CLIP

    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        if inverse:
            return jnp.clip(jnp.tanh(x), -self.clip, self.clip), tanh_log_det(x)
        y = jnp.arctanh(jnp.clip(x, -self.clip, self.clip))
        return y, -tanh_log_det(y)


class Inverse(Bijector):
    """The bijector whose forward map is `bijector`'s inverse: the flow's last layer is Inverse(Atanh), a tanh
    onto the Uniform(-1, 1)^d latent box."""

    bijector: Bijector

    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        return self.bijector(x, context, inverse=not inverse)


class ActNorm(Bijector):
    """Per-dimension affine y = (x + bias) * exp(log_scale), initialised so the first batch is standardised."""

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        batch_axes = tuple(range(x.ndim - 1))
        bias = self.param("bias", lambda _: -jnp.mean(x, axis=batch_axes))
        log_scale = self.param("log_scale", lambda _: -jnp.log(jnp.std(x, axis=batch_axes) + 1e-6))
        log_det = jnp.broadcast_to(jnp.sum(log_scale), x.shape[:-1])
        if inverse:
            return x * jnp.exp(-log_scale) - bias, -log_det
        return (x + bias) * jnp.exp(log_scale), log_det


class InvertibleLinear(Bijector):
    """y = x W^T with a full d x d matrix, orthogonal at initialisation.

    The inverse uses W^-1 from the "frozen" collection when it is there (`cache_inverse` puts it there once for
    a flow that no longer trains), so that a frozen flow's decoder does no linear algebra per call.
    """

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        d = x.shape[-1]
        weight = self.param("weight", nn.initializers.orthogonal(), (d, d))
        log_det = jnp.broadcast_to(jnp.linalg.slogdet(weight)[1], x.shape[:-1])
        if inverse:
            frozen = self.has_variable("frozen", "inverse")
            return x @ (self.get_variable("frozen", "inverse") if frozen else jnp.linalg.inv(weight)).T, -log_det
        return x @ weight.T, log_det

    def cache_inverse(self) -> None:
        """Store W^-1 in the "frozen" collection (apply with mutable=["frozen"])."""
        self.put_variable("frozen", "inverse", jnp.linalg.inv(self.get_variable("params", "weight")))


class AffineCoupling(Bijector):
    """RealNVP coupling conditioned on the state: part B -> B * exp(log_scale) + shift, given [part A, state].

    Part A holds floor(d/2) dimensions, part B the other ceil(d/2); `flip` alternates which end of the
    vector part B is taken from. With d = 1 part A is empty and part B is conditioned on the state alone.
    log_scale = rescale * tanh(raw), rescale learned per dimension (init 1); the conditioner's last layer is
    zero-initialised so the block starts as the identity.
    """

    hidden: int = 256
    flip: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        d = x.shape[-1]
        a_size = d // 2
        b_size = d - a_size
        part_b, part_a = (x[..., :b_size], x[..., b_size:]) if self.flip else (x[..., a_size:], x[..., :a_size])
        h = jnp.concatenate([part_a, context], axis=-1)
        for _ in range(2):
            h = nn.PReLU(negative_slope_init=0.25)(nn.Dense(self.hidden)(h))
        raw_log_scale, shift = jnp.split(nn.Dense(2 * b_size, kernel_init=nn.initializers.zeros)(h), 2, axis=-1)
        rescale = self.param("rescale", nn.initializers.ones, (b_size,))
        log_scale = rescale * jnp.tanh(raw_log_scale)
        part_b = (part_b - shift) * jnp.exp(-log_scale) if inverse else part_b * jnp.exp(log_scale) + shift
        y = jnp.concatenate([part_b, part_a] if self.flip else [part_a, part_b], axis=-1)
        return y, (-1 if inverse else 1) * jnp.sum(log_scale, axis=-1)
