"""The stages of a run (pre-train the flow, train the agent, evaluate, report), each usable alone.

A run directory holds config.json, flow/ (the flow used), checkpoints/, metrics.jsonl, tensorboard/,
eval.json, report.md and plots/. Every stage reads what the previous one wrote there.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import numpy as np

from cnfrl.agents.cnf import CNFAgent
from cnfrl.config import RunConfig, load_config, save_config
from cnfrl.data.minari import minari_data_dir
from cnfrl.data.resolve import load_dataset
from cnfrl.data.transitions import Transitions
from cnfrl.errors import CnfrlError
from cnfrl.evaluate import evaluate
from cnfrl.flows.pretrain import PretrainResult, load_flow, pretrained_flow
from cnfrl.paths import cache_dir
from cnfrl.reference_scores import ReferenceScores, reference_scores
from cnfrl.report import write_report
from cnfrl.train import CHECKPOINT, fit, load_checkpoint

DEMO_DATASET = "hopper-medium"
DEMO_STEPS = 100_000
EVAL_SEED = 1_000


@dataclass
class RunData:
    """The dataset of a run with what evaluation needs to know about it."""

    transitions: Transitions
    name: str
    env_id: str
    references: ReferenceScores | None


def demo_dataset_path(show_progress: bool = True) -> Path:
    """The embedded default: a 100k-step hopper-medium collected once with the packaged behaviour policy."""
    from cnfrl.collect.recipes import collect_dataset
    from cnfrl.data.builtin import parse_builtin

    root = cache_dir() / "demo-datasets"
    path = root / parse_builtin(DEMO_DATASET).dataset_id
    if minari_data_dir(path) is None:
        collect_dataset(DEMO_DATASET, steps=DEMO_STEPS, seed=0, root=root, show_progress=show_progress)
    return path


def load_run_data(config: RunConfig, show_progress: bool = True) -> RunData:
    """Load the run's dataset (generating the demo dataset when none is named) and its environment."""
    if config.dataset is None:
        transitions, name = load_dataset(demo_dataset_path(show_progress)), f"{DEMO_DATASET} ({DEMO_STEPS // 1000}k-step demo)"
    else:
        transitions, name = load_dataset(config.dataset), config.dataset
    env_id = transitions.metadata.get("env_id")
    if not env_id:
        raise CnfrlError(f"{name}: the dataset names no environment (env_id) to evaluate in; convert it with --env")
    return RunData(transitions, name, env_id, reference_scores(name, transitions.metadata))


def pretrain_stage(config: RunConfig, data: RunData, run_dir: Path | None, show_progress: bool = True) -> PretrainResult:
    """The flow for this dataset and flow config (cached by fingerprint); copied into run_dir/flow."""
    result = pretrained_flow(
        data.transitions, config.flow, config.pretrain, data.name, cache_dir() / "flows", config.seed, show_progress
    )
    if run_dir is not None and result.cache_dir is not None:
        shutil.copytree(result.cache_dir, Path(run_dir) / "flow", dirs_exist_ok=True)
    return result


def make_agent(config: RunConfig, data: RunData, flow: PretrainResult) -> CNFAgent:
    """A fresh CNF agent on the run's flow, seeded from the run's seed."""
    return CNFAgent.create(jax.random.PRNGKey(config.seed), flow.flow, data.transitions.observation_dim, config.agent)


def _evaluator(data: RunData, episodes: int):
    act = jax.jit(lambda agent, observations: agent.act(observations))

    def run(agent: Any) -> dict[str, float]:
        return evaluate(lambda obs: act(agent, obs), data.env_id, episodes, EVAL_SEED, data.references).summary()

    return run


def train_stage(config: RunConfig, run_dir: Path, resume: bool = False, show_progress: bool = True) -> tuple[CNFAgent, list[dict], RunData, PretrainResult]:
    """Pre-train (or reuse) the flow, then train the agent with periodic evaluation and checkpoints."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / "config.json").is_file():
        config = load_config(run_dir / "config.json")
    save_config(config, run_dir / "config.json")
    data = load_run_data(config, show_progress)
    flow = pretrain_stage(config, data, run_dir, show_progress)
    agent = make_agent(config, data, flow)
    agent, history = fit(
        agent, data.transitions, config.loop, config.agent.batch_size, run_dir,
        _evaluator(data, config.eval_episodes), config.seed, resume, show_progress,
    )
    return agent, history, data, dataclasses.replace(flow, flow=agent.flow)


def evaluate_stage(
    run_dir: Path,
    episodes: int | None = None,
    show_progress: bool = True,
    loaded: tuple[RunData, PretrainResult] | None = None,
) -> dict[str, Any]:
    """Evaluate a run's last checkpoint and BC through its flow; write eval.json and report.md.

    `loaded` passes the dataset and flow when the caller (`cnfrl run`) has them already; otherwise the flow
    is the one the training stage copied into run_dir/flow.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CHECKPOINT).is_file():
        raise CnfrlError(f"{run_dir}: no checkpoint to evaluate; run `cnfrl train` into this directory first")
    config = load_config(run_dir / "config.json")
    data, flow = loaded if loaded is not None else (load_run_data(config, show_progress), None)
    if flow is None:
        flow = load_flow(run_dir / "flow") if (run_dir / "flow" / "flow.json").is_file() else pretrain_stage(config, data, None, show_progress)
    agent, updates, history = load_checkpoint(run_dir / CHECKPOINT, make_agent(config, data, flow))
    episodes = episodes or config.eval_episodes
    final = _evaluator(data, episodes)(agent)
    bc_act = jax.jit(flow.flow.behaviour_action)
    bc = evaluate(lambda obs: bc_act(obs), data.env_id, episodes, EVAL_SEED, data.references).summary()
    dataset_return = float(np.mean(data.transitions.episode_returns()))
    summary = {
        "dataset": data.name,
        "env_id": data.env_id,
        "preset": config.preset,
        "seed": config.seed,
        "updates": updates,
        "eval_episodes": episodes,
        "flow_best_epoch": flow.best_epoch,
        "final": final,
        "bc_flow": bc,
        "dataset_return_mean": dataset_return,
        "dataset_score_mean": data.references.normalize(dataset_return) if data.references else None,
    }
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_report(run_dir, summary, history)
    return summary
