"""A trained agent's deterministic policy written as an export program (`numpy_policy.Step`s) with its weights:
the one description both the NumPy and the ONNX policy are made from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from cnfrl.agents.bc import BCAgent, ModelBCAgent
from cnfrl.agents.lapo import LAPOAgent
from cnfrl.agents.latent import LatentAgent
from cnfrl.errors import CnfrlError
from cnfrl.export.numpy_policy import Step
from cnfrl.models.base import ActionModel
from cnfrl.models.bijectors import ACTION_CLIP, LATENT_CLIP
from cnfrl.models.flow import FlowModel
from cnfrl.models.vae import VAEModel
from cnfrl.networks import Normalizer


class ProgramBuilder:
    """Collects steps and names the arrays they use."""

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

    def normalize(self, source: str, out: str, normalizer: Normalizer) -> str:
        """(x - mean) / std with the normaliser's statistics."""
        return self.step("normalize", [source], out, mean=self.array(normalizer.mean), std=self.array(normalizer.std))

    def layers(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """The (kernel, bias) names of a Flax MLP's Dense_0..Dense_k, stored."""
        return [
            (self.array(params[f"Dense_{i}"]["kernel"]), self.array(params[f"Dense_{i}"]["bias"]))
            for i in range(_dense_count(params))
        ]

    def dense_stack(self, inputs: list[str], out: str, params: Mapping[str, Any]) -> str:
        """A Flax MLP with ReLU between its layers, on the concatenated inputs."""
        return self.step("dense_stack", inputs, out, layers=self.layers(params), activation="relu", slopes=[])


def policy_program(agent: Any) -> tuple[list[Step], dict[str, np.ndarray]]:
    """The deterministic policy `agent.act` as an export program over raw observations; a one-line error for
    agents that have none."""
    build = ProgramBuilder()
    if isinstance(agent, BCAgent):
        build.normalize("observations", "states", agent.normalizer)
        mlp = agent.policy.params["MLP_0"]
        build.dense_stack(["states"], "head", mlp)
        build.step("slice", ["head"], "mean", start=0, stop=mlp[f"Dense_{_dense_count(mlp) - 1}"]["bias"].shape[0] // 2)
        build.step("tanh", ["mean"], "actions")
    elif isinstance(agent, ModelBCAgent):
        build.normalize("observations", "states", agent.model.normalizer)
        build.step("zeros", ["observations"], "latents", dim=agent.model.latent_dim)
        _decode(build, agent.model, "latents", "states", "actions")
    elif isinstance(agent, LatentAgent):
        _latent_policy(build, agent)
    elif isinstance(agent, LAPOAgent):
        build.normalize("observations", "states", agent.normalizer)
        build.dense_stack(["states"], "head", agent.actor.params)
        build.step("tanh", ["head"], "squashed")
        build.step("scale", ["squashed"], "latents", factor=float(agent.config.latent_bound))
        _vae_decode(build, agent.vae.target_params["params"], "latents", "states", "actions")
    else:
        raise CnfrlError(f"{type(agent).__name__}: no deterministic policy to export")
    return build.steps, build.arrays


def _dense_count(params: Mapping[str, Any]) -> int:
    return len([key for key in params if key.startswith("Dense_")])


def _latent_policy(build: ProgramBuilder, agent: LatentAgent) -> None:
    config = agent.config
    params = agent.actor.params
    build.normalize("observations", "states", agent.model.normalizer)
    head = build.dense_stack(["states"], "head", params["head"])
    if config.objective == "awr":
        build.step("slice", [head], "mean", start=0, stop=agent.model.latent_dim)
        head = "mean"
    if config.bounded_latent:
        build.step("tanh", [head], "squashed")
        head = build.step("scale", ["squashed"], "latents", factor=float(config.latent_bound))
    decoded = "actions" if config.perturbation <= 0 else "decoded"
    _decode(build, agent.model, head, "states", decoded)
    if config.perturbation > 0:
        build.dense_stack(["states", decoded], "correction_raw", params["perturbation"])
        build.step("tanh", ["correction_raw"], "correction")
        build.step("axpy", [decoded, "correction"], "perturbed", factor=float(config.perturbation))
        build.step("clip", ["perturbed"], "actions", low=-1.0, high=1.0)


def _decode(build: ProgramBuilder, model: ActionModel, latents: str, states: str, out: str) -> None:
    if isinstance(model, FlowModel):
        _flow_decode(build, model, latents, states, out)
    elif isinstance(model, VAEModel):
        _vae_decode(build, model.params["params"], latents, states, out)
    else:
        raise CnfrlError(f"{type(model).__name__}: this action model cannot be exported yet")


def _vae_decode(build: ProgramBuilder, params: Mapping[str, Any], latents: str, states: str, out: str) -> None:
    build.dense_stack([states, latents], f"{out}_raw", params["decoder"])
    build.step("tanh", [f"{out}_raw"], out)


def _flow_decode(build: ProgramBuilder, model: FlowModel, latents: str, states: str, out: str) -> None:
    """The inverse pass of `ConditionalFlow`: each layer's inverse, last layer first."""
    params = model.params["params"]
    x = latents
    if model.config.latent == "uniform":
        x = build.step("atanh", [x], "flow_in", clip=LATENT_CLIP)
    for block in reversed(range(model.config.blocks)):
        base = 1 + 3 * block
        norm, linear, coupling = (params[f"layers_{base + i}"] for i in range(3))
        x = build.step(
            "coupling_inverse",
            [x, states],
            f"coupled_{block}",
            layers=build.layers(coupling),
            activation="prelu",
            slopes=[build.array(coupling[f"PReLU_{i}"]["negative_slope"]) for i in range(2)],
            dim=model.action_dim,
            a_size=model.action_dim // 2,
            flip=block % 2 == 1,
            rescale=build.array(coupling["rescale"]),
        )
        inverse = np.asarray(jnp.linalg.inv(linear["weight"])).T
        x = build.step("matmul", [x], f"mixed_{block}", matrix=build.array(inverse))
        x = build.step(
            "affine",
            [x],
            f"block_{block}",
            scale=build.array(np.exp(-np.asarray(norm["log_scale"]))),
            shift=build.array(-np.asarray(norm["bias"])),
        )
    build.step("tanh", [x], "flow_tanh")
    build.step("clip", ["flow_tanh"], out, low=-ACTION_CLIP, high=ACTION_CLIP)
