"""Bijective layers of the conditional flow, each mapping x -> y with log|det dy/dx| (data -> latent).

Every layer is a Flax module called as `layer(x, context, inverse)`: forward returns (y, log_det) with the
log-determinant of the forward map per sample; inverse returns (x, log_det) of the inverse map, so the
two log-determinants of a round trip cancel. Parameters that depend on data (ActNorm) are set from the
batch the flow is initialised with.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ATANH_CLIP = 1.0 - 1e-5
LATENT_CLIP = 1.0 - 1e-6
LOG2 = 0.6931471805599453


def tanh_log_det(x: jax.Array) -> jax.Array:
    """log|d tanh(x)/dx| = log(1 - tanh(x)^2), summed over the last axis, in a form stable for large |x|."""
    return jnp.sum(2.0 * (LOG2 - x - jax.nn.softplus(-2.0 * x)), axis=-1)


class Atanh(nn.Module):
    """Actions in (-1, 1) -> R^d: clip to +-(1 - 1e-5), then atanh."""

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        if inverse:
            return jnp.clip(jnp.tanh(x), -ATANH_CLIP, ATANH_CLIP), tanh_log_det(x)
        y = jnp.arctanh(jnp.clip(x, -ATANH_CLIP, ATANH_CLIP))
        return y, -tanh_log_det(y)


class Tanh(nn.Module):
    """R^d -> (-1, 1)^d: the last layer, so the latent lies in the Uniform(-1, 1)^d box."""

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        if inverse:
            y = jnp.arctanh(jnp.clip(x, -LATENT_CLIP, LATENT_CLIP))
            return y, -tanh_log_det(y)
        return jnp.tanh(x), tanh_log_det(x)


class ActNorm(nn.Module):
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


class InvertibleLinear(nn.Module):
    """y = x W^T with a full d x d matrix, orthogonal at initialisation."""

    @nn.compact
    def __call__(self, x: jax.Array, context: jax.Array, inverse: bool = False) -> tuple[jax.Array, jax.Array]:
        d = x.shape[-1]
        weight = self.param("weight", nn.initializers.orthogonal(), (d, d))
        log_det = jnp.broadcast_to(jnp.linalg.slogdet(weight)[1], x.shape[:-1])
        if inverse:
            return x @ jnp.linalg.inv(weight).T, -log_det
        return x @ weight.T, log_det


class AffineCoupling(nn.Module):
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
        b_index = np.arange(d - a_size) + (0 if self.flip else a_size)
        a_index = np.setdiff1d(np.arange(d), b_index)
        part_a, part_b = x[..., a_index], x[..., b_index]
        h = jnp.concatenate([part_a, context], axis=-1)
        for _ in range(2):
            h = nn.PReLU(negative_slope_init=0.25)(nn.Dense(self.hidden)(h))
        raw_log_scale, shift = jnp.split(nn.Dense(2 * (d - a_size), kernel_init=nn.initializers.zeros)(h), 2, axis=-1)
        rescale = self.param("rescale", nn.initializers.ones, (d - a_size,))
        log_scale = rescale * jnp.tanh(raw_log_scale)
        if inverse:
            new_b = (part_b - shift) * jnp.exp(-log_scale)
            sign = -1.0
        else:
            new_b = part_b * jnp.exp(log_scale) + shift
            sign = 1.0
        return x.at[..., b_index].set(new_b), sign * jnp.sum(log_scale, axis=-1)
