"""The interface every offline agent implements: what the training loop, the run pipeline and export rely on.

An agent is an immutable pytree (a `flax.struct.PyTreeNode`) holding its networks, optimiser states and whatever
else it needs (a frozen action model, normalisation statistics); its hyper-parameters are a static field.
Adding an algorithm means one module with a class satisfying `Agent` and one entry in the registry
(cnfrl.experiments.registry): nothing in the loop, the pipeline or export changes.
"""

from __future__ import annotations

from typing import Any, Protocol, Self

import jax

from cnfrl.data.transitions import Transitions
from cnfrl.export.program import ProgramBuilder
from cnfrl.models.base import ActionModel
from cnfrl.networks import Batch


class Learner(Protocol):
    """Anything the scanned update loop can train: a pytree with a pure `update` (offline agents, and the SAC
    that trains behaviour policies)."""

    def update(self, batch: Batch) -> tuple[Self, dict[str, jax.Array]]:
        """One gradient update on a minibatch (observations, actions, rewards, next_observations, terminals):
        the new learner and scalar metrics. Pure, so the loop can jit, scan and vmap it."""
        ...


class Agent(Learner, Protocol):
    """An offline agent: created from the dataset, updated on minibatches inside a jitted scan, acting
    deterministically, and able to write that deterministic policy as an export program."""

    config: Any

    @classmethod
    def create(
        cls, key: jax.Array, transitions: Transitions, model: ActionModel | None, config: Any, updates: int | None = None
    ) -> Self:
        """A fresh agent for this dataset (its shapes, statistics, rewards) on a pre-trained action model (None for
        agents that need none), seeded by `key`; `updates` is the run's length, for agents with schedules."""
        ...

    def act(self, observations: jax.Array) -> jax.Array:
        """Deterministic actions in [-1, 1] for a batch of raw observations (what evaluation runs)."""
        ...

    def export_policy(self, program: ProgramBuilder) -> None:
        """Write `act` as steps of an export program, from `OBSERVATIONS` to `ACTIONS` (cnfrl.export.program):
        the ONNX and NumPy policies are made from it."""
        ...
