"""A trained agent's deterministic policy as an export program (`numpy_policy.Step`s) with its weights: the one
description both the NumPy and the ONNX policy are made from.

The program is written by the agent itself (`Agent.export_policy`) and, for the decoding step, by its action
model (`ActionModel.export_decode`), with the few building blocks below; this module knows no agent type, so a
new agent exports by implementing that one method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cnfrl.errors import CnfrlError
from cnfrl.export.numpy_policy import Step

OBSERVATIONS, ACTIONS = "observations", "actions"


class ProgramBuilder:
    """Collects steps and names the arrays they use. A policy program reads OBSERVATIONS and writes ACTIONS."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: Any) -> str:
        """Store an array (as float32) and return its name."""
        name = f"a{len(self.arrays)}"
        self.arrays[name] = np.asarray(value, np.float32)
        return name

    def step(self, op: str, inputs: list[str], out: str, **fields: Any) -> str:
        """Append one step; returns the name of its output."""
        self.steps.append({"op": op, "in": inputs, "out": out, **fields})
        return out

    def normalize(self, source: str, out: str, mean: Any, std: Any) -> str:
        """(x - mean) / std with a dataset's observation statistics."""
        return self.step("normalize", [source], out, mean=self.array(mean), std=self.array(std))

    def layers(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The (kernel, bias) names of a Flax MLP's Dense_0..Dense_k, stored."""
        return [
            (self.array(params[f"Dense_{i}"]["kernel"]), self.array(params[f"Dense_{i}"]["bias"]))
            for i in range(dense_count(params))
        ]

    def dense_stack(self, inputs: list[str], out: str, params: Mapping[str, Any]) -> str:
        """A Flax MLP with ReLU between its layers, on the concatenated inputs."""
        return self.step("dense_stack", inputs, out, layers=self.layers(params), activation="relu", slopes=[])


def dense_count(params: Mapping[str, Any]) -> int:
    """How many Dense layers a Flax MLP's parameters hold."""
    return len([key for key in params if key.startswith("Dense_")])


def policy_program(agent: object) -> tuple[list[Step], dict[str, np.ndarray]]:
    """The deterministic policy `agent.act` as an export program over raw observations, written by the agent's
    `export_policy`; a one-line error for agents that have none."""
    export = getattr(agent, "export_policy", None)
    if export is None:
        raise CnfrlError(f"{type(agent).__name__}: no deterministic policy to export")
    build = ProgramBuilder()
    export(build)
    if not build.steps or build.steps[-1]["out"] != ACTIONS:
        raise CnfrlError(f"{type(agent).__name__}: its export_policy must end in a step that writes '{ACTIONS}'")
    return build.steps, build.arrays
