"""Every algorithm cnfrl trains, by name: its agent, the action model it needs, its presets and docs.

`cnfrl train --algo NAME`, `cnfrl run --algo NAME` and `cnfrl.config.preset(PRESET, NAME)` read this table.
An ablation is an entry whose presets change a setting of the same code, never a copy of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from cnfrl.agents.bc import BCAgent, BCConfig, ModelBCAgent, ModelBCConfig
from cnfrl.agents.lapo import LAPOAgent, LAPOConfig
from cnfrl.agents.latent import LatentAgent, LatentConfig
from cnfrl.errors import CnfrlError

CNF = LatentConfig()
CNF_QUICK = LatentConfig(actor_hidden=(256, 256), critic_hidden=(256, 256), batch_size=256)
STEADY_DEPARTURES = {
    "reward_scale": "iql", "min_log_std": -2.0, "critic_layer_norm": True, "actor_warmup": 10_000,
}
CNF_STEADY = dataclasses.replace(CNF, **STEADY_DEPARTURES)
CNF_STEADY_QUICK = dataclasses.replace(CNF_QUICK, **STEADY_DEPARTURES)
PLAS = LatentConfig(
    actor_hidden=(400, 300), critic_hidden=(400, 300), actor_lr=1e-4, critic_lr=1e-3, batch_size=100, tau=5e-3,
    objective="plas", latent_bound=2.0, soft_min=0.75,
)
PLAS_QUICK = dataclasses.replace(PLAS, actor_hidden=(256, 256), critic_hidden=(256, 256), batch_size=256)
LAPO_QUICK = dataclasses.replace(
    LAPOConfig(), vae=dataclasses.replace(LAPOConfig().vae, hidden=(256, 256)), actor_hidden=(256, 256), critic_hidden=(256, 256), batch_size=256
)
PLAS_VAE_PRETRAIN = {"learning_rate": 1e-4, "weight_decay": 0.0, "batch_size": 100, "grad_clip": None}
QUICK_VAE_PRETRAIN = {"learning_rate": 1e-3, "weight_decay": 0.0, "grad_clip": None}
NORMAL_LATENT = {"flow": {"latent": "normal"}}


@dataclass(frozen=True)
class Algorithm:
    """One trainable algorithm: agent class, its config per preset, and what else its presets change.

    `action_model` is the frozen model pre-trained before RL ("flow", "vae") or None. `changes` maps a preset
    name to {section: {field: value}} applied on top of the shared preset (flow, vae, pretrain, loop).
    `uses_rewards` is False for imitation (BC), which cannot do better than the data's average behaviour.
    """

    name: str
    agent: type
    action_model: Literal["flow", "vae"] | None
    agent_presets: dict[str, Any]
    summary: str
    changes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    uses_rewards: bool = True

    @property
    def config_class(self) -> type:
        """The dataclass of this algorithm's `agent` settings."""
        return type(self.agent_presets["paper"])


def _both(changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {"paper": changes, "cpu-quick": changes}


ALGORITHMS: dict[str, Algorithm] = {
    spec.name: spec
    for spec in [
        Algorithm(
            "cnf", LatentAgent, "flow", {"paper": CNF, "cpu-quick": CNF_QUICK},
            "Conservative Normalizing Flows (Akimov et al. 2022, arXiv 2211.11096): a tanh-Gaussian latent actor in "
            "the Uniform(-1, 1)^d latent box of a conditional flow pre-trained on the data and frozen; twin critics on "
            "decoded actions; advantage-weighted L1 regression through the decoder (lambda 1/3), as the authors' code. "
            "Knobs: agent.awr_lambda, agent.max_weight, flow.blocks, flow.hidden.",
        ),
        Algorithm(
            "cnf-steady", LatentAgent, "flow", {"paper": CNF_STEADY, "cpu-quick": CNF_STEADY_QUICK},
            "CNF, steadier: the same latent actor-critic in the flow's bounded latent, with four departures from the "
            "authors' code, each a setting that benchmarks/stability.py --ablations puts back one at a time: rewards "
            "scaled as IQL scales them (reward_scale iql: x 1000 / (max - min episode return)), the scale lambda 1/3 was "
            "chosen for; LayerNorm critics (critic_layer_norm); an actor log-std floor of -2 so the actor keeps some "
            "entropy (min_log_std); and 10,000 warm-up updates that regress with unit weights, i.e. BC through the "
            "flow, while the critics learn (actor_warmup). On generated hopper-medium it is steadier and higher than "
            "cnf at 50k updates but still below BC (README, Results).",
        ),
        Algorithm(
            "plas", LatentAgent, "vae", {"paper": PLAS, "cpu-quick": PLAS_QUICK},
            "PLAS (Zhou et al. 2020, 'Latent Action Space for Offline RL'): a conditional VAE (latent 2 x d, hidden "
            "750, KL weight 0.5) pre-trained and frozen; a deterministic latent policy 2 tanh(MLP(s)) maximising Q1 "
            "of the decoded action; twin critics with the soft clipped double-Q target (0.75 min + 0.25 max); target "
            "actor and critics (tau 0.005). Optimiser values from the PLAS code and d3rlpy's PLAS (actor 1e-4, critic "
            "1e-3, VAE 1e-4, batch 100). Knobs: agent.latent_bound, agent.soft_min, agent.perturbation (0.05 gives PLAS+P).",
            {"paper": {"pretrain": PLAS_VAE_PRETRAIN}, "cpu-quick": {"pretrain": QUICK_VAE_PRETRAIN, "vae": {"hidden": (256, 256)}}},
        ),
        Algorithm(
            "lapo", LAPOAgent, None, {"paper": LAPOConfig(), "cpu-quick": LAPO_QUICK},
            "LAPO (Chen et al. 2022, 'Latent-Variable Advantage-Weighted Policy Optimization for Offline RL'): a "
            "conditional VAE trained during RL with expectile advantage weights (0.9, its locomotion scripts), twin Q "
            "and V critics (V regresses the soft-min 0.8/0.2 double-Q of the target networks, clipped), and a latent "
            "policy tanh(MLP(s)) maximising Q1 through the target VAE; rewards divided by the dataset's largest. "
            "Knobs: agent.expectile, agent.latent_bound, agent.vae.",
        ),
        Algorithm(
            "bc", BCAgent, None, {"paper": BCConfig(), "cpu-quick": BCConfig(hidden=(256, 256), batch_size=256)},
            "Behaviour cloning: a tanh-Gaussian policy (3 x 256) maximising the likelihood of the dataset's actions; "
            "acts with tanh(mean). Knobs: agent.hidden, agent.learning_rate.",
            uses_rewards=False,
        ),
        Algorithm(
            "bc-flow", ModelBCAgent, "flow", {"paper": ModelBCConfig(), "cpu-quick": ModelBCConfig()},
            "BC through the flow: the pre-trained flow's decoding of the latent box centre, a = f^-1(0; s); no RL, "
            "nothing trained after the flow (the run evaluates once).",
            _both({"loop": {"updates": 0}}),
            uses_rewards=False,
        ),
        Algorithm(
            "cnf-normal", LatentAgent, "flow", {"paper": CNF, "cpu-quick": CNF_QUICK},
            "Ablation (paper): CNF with a N(0, I) flow base and no final tanh instead of the uniform latent; the actor "
            "stays tanh-bounded to (-1, 1)^d, i.e. within one standard deviation of the base.",
            _both(NORMAL_LATENT),
        ),
        Algorithm(
            "cnf-normal-unbounded", LatentAgent, "flow",
            {"paper": dataclasses.replace(CNF, bounded_latent=False), "cpu-quick": dataclasses.replace(CNF_QUICK, bounded_latent=False)},
            "Ablation (paper): the normal-latent flow with an unbounded latent policy (no tanh on the actor).",
            _both(NORMAL_LATENT),
        ),
        Algorithm(
            "cnf-vae", LatentAgent, "vae",
            {"paper": dataclasses.replace(CNF, latent_bound=2.0), "cpu-quick": dataclasses.replace(CNF_QUICK, latent_bound=2.0)},
            "Ablation (paper): the CNF objective on PLAS's conditional VAE instead of the flow; the latent actor is "
            "2 tanh(.) as PLAS bounds that VAE's latent.",
            {"paper": {"pretrain": PLAS_VAE_PRETRAIN}, "cpu-quick": {"pretrain": QUICK_VAE_PRETRAIN, "vae": {"hidden": (256, 256)}}},
        ),
        Algorithm(
            "cnf-plas-objective", LatentAgent, "flow",
            {"paper": dataclasses.replace(CNF, objective="plas"), "cpu-quick": dataclasses.replace(CNF_QUICK, objective="plas")},
            "Ablation (paper): the PLAS-style deterministic objective (maximise Q1 of the decoded latent, target "
            "actor) on the uniform-latent flow instead of the advantage-weighted one.",
        ),
    ]
}


def markdown() -> str:
    """The algorithms page of the docs (docs/algorithms.md): each entry's paragraph and its preset settings."""
    lines = ["# Algorithms", "", "Generated by `cnfrl algos --markdown` from cnfrl/agents/registry.py.", ""]
    for spec in ALGORITHMS.values():
        lines += [f"## `{spec.name}`", "", spec.summary, "", f"Action model: {spec.action_model or 'none'}.", ""]
        for name, config in spec.agent_presets.items():
            changes = "; ".join(f"{section}: {fields}" for section, fields in spec.changes.get(name, {}).items())
            lines.append(f"- `{name}`: `{config}`" + (f"; {changes}" if changes else ""))
        lines.append("")
    return "\n".join(lines)


def algorithm(name: str) -> Algorithm:
    """The registry entry for `name`; a one-line error lists the valid names."""
    if name not in ALGORITHMS:
        raise CnfrlError(f"{name}: unknown algorithm; choose one of {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]
