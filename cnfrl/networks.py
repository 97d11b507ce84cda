"""Pieces shared by every agent: MLPs, a tanh-squashed Gaussian actor, twin critics, train states that carry
their target parameters, normalisation, reward scaling."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from cnfrl.errors import CnfrlError

if TYPE_CHECKING:
    from cnfrl.data.transitions import NormalizationStats, Transitions

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
LOG2 = 0.6931471805599453
Batch = dict[str, jax.Array]


class MLP(nn.Module):
    """Dense layers with an activation between them (LayerNorm before it when `layer_norm`); the last is linear."""

    hidden: Sequence[int]
    out_dim: int
    activation: Callable[[jax.Array], jax.Array] = nn.relu
    last_init: Callable = nn.initializers.lecun_normal()
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.Dense(width)(x)
            x = self.activation(nn.LayerNorm()(x) if self.layer_norm else x)
        return nn.Dense(self.out_dim, kernel_init=self.last_init)(x)


class GaussianHead(nn.Module):
    """State -> (mean, log_std) of a diagonal Gaussian, log_std clipped to [-20, 2]."""

    hidden: Sequence[int]
    action_dim: int

    @nn.compact
    def __call__(self, observations: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = MLP(self.hidden, 2 * self.action_dim)(observations)
        mean, log_std = jnp.split(out, 2, axis=-1)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)


def sample_tanh_gaussian(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Draw tanh(u), u ~ N(mean, exp(log_std)), with its log-density (change of variables through tanh)."""
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    return jnp.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)


def tanh_gaussian_log_prob(u: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """Log-density of tanh(u) when u ~ N(mean, exp(log_std)): the Gaussian term minus log|d tanh / du|."""
    log_prob = jnp.sum(-0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
    return log_prob - tanh_log_det(u)


def tanh_log_det(x: jax.Array) -> jax.Array:
    """log|d tanh(x)/dx| = log(1 - tanh(x)^2), summed over the last axis, in a form stable for large |x|."""
    return jnp.sum(2.0 * (LOG2 - x - jax.nn.softplus(-2.0 * x)), axis=-1)


class CriticEnsemble(nn.Module):
    """Independent Q(s, a) MLPs evaluated together: TD3's and SAC's twin critics by default, more with `count`
    (SAC-N's ensembles); returns an array of shape (count, batch).

    `layer_norm` normalises every hidden layer, which keeps offline critics from drifting on actions the data
    never shows (as ReBRAC's critics do).
    """

    hidden: Sequence[int]
    layer_norm: bool = False
    count: int = 2

    @nn.compact
    def __call__(self, observations: jax.Array, actions: jax.Array) -> jax.Array:
        ensemble = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.count,
        )
        return ensemble(self.hidden, 1, layer_norm=self.layer_norm)(jnp.concatenate([observations, actions], axis=-1))[..., 0]


def soft_min_q(q: jax.Array, weight: float) -> jax.Array:
    """The soft clipped double-Q value weight * min + (1 - weight) * max over the critics (axis 0)."""
    return weight * q.min(0) + (1.0 - weight) * q.max(0)


class Normalizer(struct.PyTreeNode):
    """The dataset's observation mean and std, applied to raw observations before any network."""

    mean: jax.Array
    std: jax.Array

    @classmethod
    def of(cls, transitions: Transitions) -> Normalizer:
        """Statistics of a dataset's observations."""
        return cls.from_stats(transitions.normalization())

    @classmethod
    def from_stats(cls, stats: NormalizationStats) -> Normalizer:
        """The normaliser of statistics already computed."""
        return cls(jnp.asarray(stats.mean), jnp.asarray(stats.std))

    def __call__(self, observations: jax.Array) -> jax.Array:
        """Raw observations -> normalised states."""
        return (observations - self.mean) / self.std


def reward_scale(transitions: Transitions, kind: str) -> float:
    """The factor an agent multiplies rewards by: "none" 1; "iql" 1000 / (max - min episode return), IQL's
    locomotion scaling, which makes a fixed advantage temperature mean the same on every dataset; "max" one over
    the largest absolute reward, as LAPO's scripts divide."""
    if kind == "none":
        return 1.0
    if kind == "iql":
        returns = transitions.episode_returns()
        return 1000.0 / max(float(returns.max() - returns.min()), 1e-6)
    if kind == "max":
        return 1.0 / max(float(abs(transitions.rewards).max()), 1e-6)
    raise CnfrlError(f"{kind}: unknown reward scaling; set it to none, iql or max")


class TargetTrainState(TrainState):
    """A network's parameters, optimiser and the slowly-following copy its targets use (CORL's rebrac.py style)."""

    target_params: Any = None

    @classmethod
    def create_with_target(cls, apply_fn: Callable, params: Any, tx: optax.GradientTransformation) -> TargetTrainState:
        """A fresh state whose target starts as a copy of `params`."""
        return cls.create(apply_fn=apply_fn, params=params, tx=tx, target_params=jax.tree_util.tree_map(jnp.copy, params))

    def soft_update(self, tau: float) -> TargetTrainState:
        """Polyak averaging of the target toward the online parameters: target <- (1 - tau) target + tau online.

        Written out rather than optax.incremental_update, which rounds 1 - tau differently (the last bit of about
        6% of the weights); over a run that changes the scores every recorded result was measured with.
        """
        averaged = jax.tree_util.tree_map(lambda t, o: (1.0 - tau) * t + tau * o, self.target_params, self.params)
        return self.replace(target_params=averaged)
