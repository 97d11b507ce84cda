"""Behaviour cloning: a tanh-Gaussian policy fit by maximum likelihood, and BC through a frozen action model
(the decoded latent centre, no training at all)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct
from flax.training.train_state import TrainState

from cnfrl.data.transitions import Transitions
from cnfrl.errors import CnfrlError
from cnfrl.export.program import ACTIONS, OBSERVATIONS, ProgramBuilder, dense_count
from cnfrl.models.base import ActionModel
from cnfrl.networks import Batch, GaussianHead, Normalizer, tanh_gaussian_log_prob

ACTION_CLIP = 1.0 - 1e-5


@dataclass(frozen=True)
class BCConfig:
    """Policy size and optimiser of plain behaviour cloning."""

    hidden: tuple[int, ...] = (256, 256, 256)
    learning_rate: float = 3e-4


class BCAgent(struct.PyTreeNode):
    """A tanh-squashed Gaussian policy maximising the likelihood of the dataset's actions."""

    policy: TrainState
    normalizer: Normalizer
    config: BCConfig = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        key: jax.Array,
        transitions: Transitions,
        model: ActionModel | None,
        config: BCConfig = BCConfig(),
        updates: int | None = None,
    ) -> BCAgent:
        """A fresh policy; `model` and `updates` are unused (plain BC needs no action model, no schedule)."""
        definition = GaussianHead(config.hidden, transitions.action_dim)
        params = definition.init(key, jnp.zeros((1, transitions.observation_dim)))["params"]
        policy = TrainState.create(apply_fn=definition.apply, params=params, tx=optax.adam(config.learning_rate))
        return cls(policy, Normalizer.of(transitions), config)

    def update(self, batch: Batch) -> tuple[BCAgent, dict[str, jax.Array]]:
        """One step on -log pi(a | s), the data action mapped through atanh."""
        states = self.normalizer(batch["observations"])
        u = jnp.arctanh(jnp.clip(batch["actions"], -ACTION_CLIP, ACTION_CLIP))

        def loss(params: Any) -> jax.Array:
            mean, log_std = self.policy.apply_fn({"params": params}, states)
            return -tanh_gaussian_log_prob(u, mean, log_std).mean()

        value, grads = jax.value_and_grad(loss)(self.policy.params)
        return self.replace(policy=self.policy.apply_gradients(grads=grads)), {"nll": value}

    def act(self, observations: jax.Array) -> jax.Array:
        """The deterministic action tanh(mean)."""
        mean, _ = self.policy.apply_fn({"params": self.policy.params}, self.normalizer(observations))
        return jnp.tanh(mean)

    def export_policy(self, program: ProgramBuilder) -> None:
        """`act` as export steps: normalise, the MLP, the mean half of its output, tanh."""
        program.normalize(OBSERVATIONS, "states", self.normalizer.mean, self.normalizer.std)
        mlp = self.policy.params["MLP_0"]
        program.dense_stack(["states"], "head", mlp)
        program.step("slice", ["head"], "mean", start=0, stop=mlp[f"Dense_{dense_count(mlp) - 1}"]["bias"].shape[0] // 2)
        program.step("tanh", ["mean"], ACTIONS)


@dataclass(frozen=True)
class ModelBCConfig:
    """BC through an action model has no knobs: it acts with the model's latent centre."""


class ModelBCAgent(struct.PyTreeNode):
    """BC through the frozen action model: act with the decoded latent centre z = 0; nothing to train."""

    model: ActionModel
    config: ModelBCConfig = struct.field(pytree_node=False)

    @classmethod
    def create(
        cls,
        key: jax.Array,
        transitions: Transitions,
        model: ActionModel | None,
        config: ModelBCConfig = ModelBCConfig(),
        updates: int | None = None,
    ) -> ModelBCAgent:
        """Wrap a trained action model (`updates` is unused: nothing trains)."""
        if model is None:
            raise CnfrlError("BC through an action model needs one; pre-train a flow or VAE first")
        return cls(model, config)

    def update(self, batch: Batch) -> tuple[ModelBCAgent, dict[str, jax.Array]]:
        """Nothing to learn: the model is frozen."""
        return self, {}

    def act(self, observations: jax.Array) -> jax.Array:
        """The decoded latent centre."""
        return self.model.behaviour_action(observations)

    def export_policy(self, program: ProgramBuilder) -> None:
        """`act` as export steps: the model's decoding of a zero latent."""
        program.normalize(OBSERVATIONS, "states", self.model.normalizer.mean, self.model.normalizer.std)
        program.step("zeros", [OBSERVATIONS], "latents", dim=self.model.latent_dim)
        self.model.export_decode(program, "latents", "states", ACTIONS)
