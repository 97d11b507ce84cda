"""Every algorithm cnfrl trains, by name: its agent, the action model it needs, its presets and docs.

`cnfrl train --algo NAME`, `cnfrl run --algo NAME` and `preset(PRESET, NAME)` read this table; each entry holds
its whole presets (as FQL keeps `get_config()` beside its agent), and `load_config` reads a saved run's config
back into the entry's dataclasses.
An ablation is an entry whose presets change a setting of the same code, never a copy of it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cnfrl.agents.base import Agent
from cnfrl.agents.bc import BCAgent, BCConfig, ModelBCAgent, ModelBCConfig
from cnfrl.agents.iql import IQLAgent, IQLConfig
from cnfrl.agents.lapo import LAPOAgent, LAPOConfig
from cnfrl.agents.latent import LatentAgent, LatentConfig
from cnfrl.agents.td3bc import TD3BCAgent, TD3BCConfig
from cnfrl.errors import CnfrlError
from cnfrl.experiments.config import RunConfig, from_dict
from cnfrl.models import MODELS, FlowConfig, VAEConfig
from cnfrl.models.pretrain import PretrainConfig
from cnfrl.training.loop import LoopConfig

PAPER = RunConfig(preset="paper")
CPU_QUICK = RunConfig(
    preset="cpu-quick",
    eval_episodes=5,
    pretrain=PretrainConfig(epochs=20, sample_states=256),
    loop=LoopConfig(updates=30_000, batch_size=256),
)
NO_MODEL = {"paper": replace(PAPER, pretrain=None), "cpu-quick": replace(CPU_QUICK, pretrain=None)}
CORL_BATCH = {name: replace(config, loop=replace(config.loop, batch_size=256)) for name, config in NO_MODEL.items()}
FLOW = {"paper": replace(PAPER, model=FlowConfig()), "cpu-quick": replace(CPU_QUICK, model=FlowConfig(blocks=6, hidden=128))}
NORMAL_FLOW = {name: replace(config, model=replace(config.model, latent="normal")) for name, config in FLOW.items()}
PLAS_VAE = {
    "paper": replace(
        PAPER, model=VAEConfig(), pretrain=PretrainConfig(learning_rate=1e-4, weight_decay=0.0, batch_size=100, grad_clip=None)
    ),
    "cpu-quick": replace(
        CPU_QUICK,
        model=VAEConfig(hidden=(256, 256)),
        pretrain=PretrainConfig(epochs=20, sample_states=256, learning_rate=1e-3, weight_decay=0.0, grad_clip=None),
    ),
}

CNF = LatentConfig()
CNF_QUICK = LatentConfig(actor_hidden=(256, 256), critic_hidden=(256, 256))
STEADY_DEPARTURES: dict[str, Any] = {
    "reward_scale": "iql",
    "min_log_std": -2.0,
    "critic_layer_norm": True,
    "actor_warmup": 10_000,
}
TD3BC_DEPARTURES: dict[str, Any] = {"objective": "plas", "latent_bound": 0.5, "bc_alpha": 1.0, "actor_lr_schedule": "cosine"}
PLAS = LatentConfig(
    actor_hidden=(400, 300),
    critic_hidden=(400, 300),
    actor_lr=1e-4,
    critic_lr=1e-3,
    tau=5e-3,
    objective="plas",
    latent_bound=2.0,
    soft_min=0.75,
)
LAPO_QUICK = replace(
    LAPOConfig(), vae=replace(LAPOConfig().vae, hidden=(256, 256)), actor_hidden=(256, 256), critic_hidden=(256, 256)
)


def _with_agent(bases: dict[str, RunConfig], paper: Any, quick: Any) -> dict[str, RunConfig]:
    """The presets `bases` with the agent settings `paper` and `quick`."""
    agents = {"paper": paper, "cpu-quick": quick}
    return {name: replace(config, agent=agents[name]) for name, config in bases.items()}


@dataclass(frozen=True)
class Algorithm:
    """One trainable algorithm: its agent class, the action model it pre-trains, and its complete presets.

    `action_model` names an entry of cnfrl.models.MODELS ("flow", "vae") or is None. `presets` maps a preset
    name ("paper", "cpu-quick") to the whole RunConfig of a run of this algorithm. `uses_rewards` is False for
    imitation (BC), which cannot do better than the data's average behaviour.
    """

    name: str
    agent: type[Agent]
    action_model: str | None
    presets: dict[str, RunConfig]
    summary: str
    uses_rewards: bool = True

    def __post_init__(self) -> None:
        if self.action_model is not None and self.action_model not in MODELS:
            raise ValueError(f"{self.name}: unknown action model {self.action_model}")

    @property
    def config_class(self) -> type:
        """The dataclass of this algorithm's `agent` settings."""
        return type(self.presets["paper"].agent)

    @property
    def model_config_class(self) -> type | None:
        """The dataclass of its action model's settings, None when it pre-trains none."""
        return MODELS[self.action_model].config_class if self.action_model else None


ALGORITHMS: dict[str, Algorithm] = {
    spec.name: spec
    for spec in [
        Algorithm(
            "cnf",
            LatentAgent,
            "flow",
            _with_agent(FLOW, CNF, CNF_QUICK),
            "Conservative Normalizing Flows (Akimov et al. 2022, arXiv 2211.11096): a tanh-Gaussian latent actor in "
            "the Uniform(-1, 1)^d latent box of a conditional flow pre-trained on the data and frozen; twin critics on "
            "decoded actions; advantage-weighted L1 regression through the decoder (lambda 1/3), as the authors' code. "
            "Knobs: agent.awr_lambda, agent.max_weight, flow.blocks, flow.hidden.",
        ),
        Algorithm(
            "cnf-steady",
            LatentAgent,
            "flow",
            _with_agent(FLOW, replace(CNF, **STEADY_DEPARTURES), replace(CNF_QUICK, **STEADY_DEPARTURES)),
            "CNF, steadier: the same latent actor-critic in the flow's bounded latent, with four departures from the "
            "authors' code: rewards scaled as IQL scales them (reward_scale iql: x 1000 / (max - min episode return)), the "
            "scale lambda 1/3 was chosen for; LayerNorm critics (critic_layer_norm); an actor log-std floor of -2 so the "
            "actor keeps some entropy (min_log_std); and 10,000 warm-up updates that regress with unit weights, i.e. BC "
            "through the flow, while the critics learn (actor_warmup). Its settings were chosen on generated hopper-, "
            "walker2d- and halfcheetah-medium.",
        ),
        Algorithm(
            "cnf-td3bc",
            LatentAgent,
            "flow",
            _with_agent(FLOW, replace(CNF, **TD3BC_DEPARTURES), replace(CNF_QUICK, **TD3BC_DEPARTURES)),
            "CNF with TD3+BC's actor: a deterministic latent actor 0.5 tanh(MLP(s)) in the central half of the frozen "
            "flow's uniform latent box (latent_bound; each dimension kept within the flow's central quantiles), "
            "maximising alpha Q1 / mean|Q1| of the decoded action minus the squared error between that action and the "
            "data's (bc_alpha 1.0, a stronger pull to the data than TD3+BC's 2.5; Fujimoto & Gu 2021), with the paper's "
            "PLAS-style objective's target actor, and the actor's learning rate cosine-decayed to 0 over the run "
            "(actor_lr_schedule, as IQL's actor); critics as cnf's. Its settings were chosen on generated hopper-, "
            "walker2d- and halfcheetah-medium; the other datasets of the grid were not used to choose them.",
        ),
        Algorithm(
            "plas",
            LatentAgent,
            "vae",
            {
                "paper": replace(PLAS_VAE["paper"], agent=PLAS, loop=replace(PAPER.loop, batch_size=100)),
                "cpu-quick": replace(
                    PLAS_VAE["cpu-quick"], agent=replace(PLAS, actor_hidden=(256, 256), critic_hidden=(256, 256))
                ),
            },
            "PLAS (Zhou et al. 2020, 'Latent Action Space for Offline RL'): a conditional VAE (latent 2 x d, hidden "
            "750, KL weight 0.5) pre-trained and frozen; a deterministic latent policy 2 tanh(MLP(s)) maximising Q1 "
            "of the decoded action; twin critics with the soft clipped double-Q target (0.75 min + 0.25 max); target "
            "actor and critics (tau 0.005). Optimiser values from the PLAS code and d3rlpy's PLAS (actor 1e-4, critic "
            "1e-3, VAE 1e-4, batch 100). Knobs: agent.latent_bound, agent.soft_min, agent.perturbation (0.05 gives PLAS+P).",
        ),
        Algorithm(
            "lapo",
            LAPOAgent,
            None,
            _with_agent(NO_MODEL, LAPOConfig(), LAPO_QUICK),
            "LAPO (Chen et al. 2022, 'Latent-Variable Advantage-Weighted Policy Optimization for Offline RL'): a "
            "conditional VAE trained during RL with expectile advantage weights (0.9, its locomotion scripts), twin Q "
            "and V critics (V regresses the soft-min 0.8/0.2 double-Q of the target networks, clipped), and a latent "
            "policy tanh(MLP(s)) maximising Q1 through the target VAE; rewards divided by the dataset's largest. "
            "Knobs: agent.expectile, agent.latent_bound, agent.vae.",
        ),
        Algorithm(
            "td3bc",
            TD3BCAgent,
            None,
            _with_agent(CORL_BATCH, TD3BCConfig(), TD3BCConfig()),
            "TD3+BC (Fujimoto & Gu 2021, 'A Minimalist Approach to Offline RL'), as CORL's td3_bc.py: a deterministic "
            "actor tanh(MLP(s)) minimising -alpha Q1 / mean|Q1| + the squared error to the data's action (alpha 2.5); "
            "twin critics on the clipped double-Q target with target policy smoothing (noise 0.2, clipped at 0.5); the "
            "actor and the targets (tau 0.005) updated every second critic update; 2 x 256 networks, learning rates "
            "3e-4, batch 256, states normalised. Knobs: agent.alpha, agent.policy_noise, agent.noise_clip, "
            "agent.policy_freq.",
        ),
        Algorithm(
            "iql",
            IQLAgent,
            None,
            _with_agent(CORL_BATCH, IQLConfig(), IQLConfig()),
            "IQL (Kostrikov et al. 2021, 'Offline RL with Implicit Q-Learning'), as CORL's iql.py: V(s) by expectile "
            "regression (0.7) on the minimum of the target twin Q; twin Q regress r + gamma (1 - terminal) V(s'); a "
            "Gaussian actor (mean tanh(MLP(s)), state-independent log std) by advantage-weighted regression, weights "
            "min(exp(3 (Q' - V)), 100); target Q with tau 0.005; 2 x 256 networks, learning rates 3e-4 with the actor's "
            "cosine-decayed to 0 over the run, batch 256; rewards x 1000 / (max - min episode return) as IQL scales "
            "locomotion rewards, states normalised; acts with the mean. Knobs: agent.expectile, agent.temperature, "
            "agent.max_weight, agent.reward_scale.",
        ),
        Algorithm(
            "bc",
            BCAgent,
            None,
            _with_agent(NO_MODEL, BCConfig(), BCConfig(hidden=(256, 256))),
            "Behaviour cloning: a tanh-Gaussian policy (3 x 256) maximising the likelihood of the dataset's actions; "
            "acts with tanh(mean). Knobs: agent.hidden, agent.learning_rate.",
            uses_rewards=False,
        ),
        Algorithm(
            "bc-flow",
            ModelBCAgent,
            "flow",
            {name: replace(config, agent=ModelBCConfig(), loop=replace(config.loop, updates=0)) for name, config in FLOW.items()},
            "BC through the flow: the pre-trained flow's decoding of the latent box centre, a = f^-1(0; s); no RL, "
            "nothing trained after the flow (the run evaluates once).",
            uses_rewards=False,
        ),
        Algorithm(
            "cnf-normal",
            LatentAgent,
            "flow",
            _with_agent(NORMAL_FLOW, CNF, CNF_QUICK),
            "Ablation (paper): CNF with a N(0, I) flow base and no final tanh instead of the uniform latent; the actor "
            "stays tanh-bounded to (-1, 1)^d, i.e. within one standard deviation of the base.",
        ),
        Algorithm(
            "cnf-normal-unbounded",
            LatentAgent,
            "flow",
            _with_agent(NORMAL_FLOW, replace(CNF, bounded_latent=False), replace(CNF_QUICK, bounded_latent=False)),
            "Ablation (paper): the normal-latent flow with an unbounded latent policy (no tanh on the actor).",
        ),
        Algorithm(
            "cnf-vae",
            LatentAgent,
            "vae",
            _with_agent(PLAS_VAE, replace(CNF, latent_bound=2.0), replace(CNF_QUICK, latent_bound=2.0)),
            "Ablation (paper): the CNF objective on PLAS's conditional VAE instead of the flow; the latent actor is "
            "2 tanh(.) as PLAS bounds that VAE's latent.",
        ),
        Algorithm(
            "cnf-plas-objective",
            LatentAgent,
            "flow",
            _with_agent(FLOW, replace(CNF, objective="plas"), replace(CNF_QUICK, objective="plas")),
            "Ablation (paper): the PLAS-style deterministic objective (maximise Q1 of the decoded latent, target "
            "actor) on the uniform-latent flow instead of the advantage-weighted one.",
        ),
    ]
}


def markdown() -> str:
    """The algorithms page of the docs (docs/algorithms.md): each entry's paragraph and its preset settings."""
    lines = ["# Algorithms", "", "Generated by `cnfrl algos --markdown` from cnfrl/experiments/registry.py.", ""]
    for spec in ALGORITHMS.values():
        lines += [f"## `{spec.name}`", "", spec.summary, "", f"Action model: {spec.action_model or 'none'}.", ""]
        for name, config in spec.presets.items():
            sections = [
                f"agent `{config.agent}`",
                f"model `{config.model}`" if config.model else "",
                f"pretrain `{config.pretrain}`" if config.model else "",
            ]
            lines.append(
                f"- `{name}`: "
                + "; ".join(filter(None, [*sections, f"loop `{config.loop}`", f"eval_episodes {config.eval_episodes}"]))
            )
        lines.append("")
    return "\n".join(lines)


def algorithm(name: str) -> Algorithm:
    """The registry entry for `name`; a one-line error lists the valid names."""
    if name not in ALGORITHMS:
        close = difflib.get_close_matches(name, ALGORITHMS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? (`cnfrl algos` lists all)" if close else f"choose one of {', '.join(ALGORITHMS)}"
        raise CnfrlError(f"{name}: unknown algorithm; {hint}")
    return ALGORITHMS[name]


def preset(name: str, algo: str = "cnf") -> RunConfig:
    """The whole config of a run of `algo` at the preset `name` ("paper" or "cpu-quick")."""
    spec = algorithm(algo)
    if name not in spec.presets:
        raise CnfrlError(f"{name}: unknown preset; choose one of {', '.join(spec.presets)}")
    return replace(spec.presets[name], algo=spec.name)


def load_config(path: Path) -> RunConfig:
    """Read a run's config.json back into its algorithm's dataclasses; a missing, malformed or foreign file is a
    one-line error that names it."""
    path = Path(path)
    if not path.is_file():
        raise CnfrlError(f"{path}: no such file; name a run directory that `cnfrl run` or `cnfrl train` wrote")
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CnfrlError(
            f"{path}: not valid JSON ({error}); restore it from another run of the same command, or start the run "
            "again with --overwrite"
        ) from error
    if not isinstance(values, dict) or "algo" not in values:
        raise CnfrlError(f"{path}: not a cnfrl run config (no 'algo'); start the run again with --overwrite")
    spec = algorithm(values["algo"])
    return from_dict(values, spec.config_class, spec.model_config_class, path)
