"""The stages of a run (pre-train the action model, train the agent, evaluate, report), each usable alone.

A run directory holds config.json, model/ (the flow or VAE used, if the algorithm has one), checkpoints/,
metrics.jsonl, tensorboard/, eval.json, report.md and plots/. Every stage reads what the previous one wrote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cnfrl.agents.base import Agent
from cnfrl.data.builtin import DEMO_RECIPE, DEMO_STEPS, MUJOCO_TASKS, demo_path, demo_root
from cnfrl.data.minari import minari_data_dir
from cnfrl.data.resolve import load_dataset
from cnfrl.data.transitions import Transitions
from cnfrl.envs.evaluate import evaluate
from cnfrl.envs.make import is_registered
from cnfrl.envs.reference_scores import ReferenceScores, d4rl_family, dataset_score, reference_scores
from cnfrl.errors import CnfrlError
from cnfrl.experiments.config import RunConfig, save_config, to_dict, validate, with_overrides
from cnfrl.experiments.registry import algorithm, load_config
from cnfrl.experiments.run_report import write_run_report
from cnfrl.experiments.runs import RESUMABLE_SETTINGS
from cnfrl.export.policy_files import load_exported
from cnfrl.models.pretrain import MODEL_FILE, PretrainResult, copy_model, load_model, pretrained_model
from cnfrl.training.checkpoints import CHECKPOINT, check_extends, checkpoint_updates, load_checkpoint
from cnfrl.training.loop import SeedRun, fit_seeds
from cnfrl.utils.files import owned, write_atomically
from cnfrl.utils.hardware import describe_hardware
from cnfrl.utils.paths import cache_dir

EVAL_SEED = 1_000


@dataclass
class RunData:
    """The dataset of a run with what evaluation needs to know about it."""

    transitions: Transitions
    name: str
    env_id: str
    references: ReferenceScores | None


def demo_dataset_path(show_progress: bool = True) -> Path:
    """The embedded default (cnfrl.data.builtin.DEMO_NAME), generated on first use."""
    from cnfrl.collect.recipes import collect_dataset

    path = demo_path()
    if minari_data_dir(path) is None:
        collect_dataset(DEMO_RECIPE, steps=DEMO_STEPS, seed=0, root=demo_root(), show_progress=show_progress)
    return path


def load_run_data(config: RunConfig, show_progress: bool = True) -> RunData:
    """Load the run's dataset (generating the demo dataset when none is named) and its environment."""
    if config.dataset is None:
        path = demo_dataset_path(show_progress)
        transitions, name = load_dataset(path, env_id=config.env), f"{DEMO_RECIPE} ({DEMO_STEPS // 1000}k-step demo)"
    else:
        transitions, name = load_dataset(config.dataset, env_id=config.env), config.dataset
    env_id = transitions.metadata.get("env_id")
    if env_id is None or not is_registered(env_id):
        family = d4rl_family(name) or ""
        guess = MUJOCO_TASKS.get(family, "ENV_ID")
        named = f"names {env_id}, not a Gymnasium id," if env_id else "names no environment"
        raise CnfrlError(f"{name}: the dataset {named} to evaluate in; run it as: cnfrl run {name} --env {guess}")
    return RunData(transitions, name, env_id, reference_scores(name, transitions.metadata))


def pretrain_stage(config: RunConfig, data: RunData, run_dir: Path | None, show_progress: bool = True) -> PretrainResult | None:
    """The algorithm's action model for this dataset (cached by fingerprint + config), copied into run_dir/model;
    a run directory's own copy refills an empty cache (a resumed run does not pre-train again).

    None for algorithms without a pre-trained model (BC, LAPO).
    """
    kind = algorithm(config.algo).action_model
    if kind is None:
        return None
    if config.model is None or config.pretrain is None:
        raise CnfrlError(f"{config.algo} pre-trains a {kind}: its config needs model and pretrain settings")
    copies = [Path(run_dir) / "model"] if run_dir is not None else []
    result = pretrained_model(
        data.transitions,
        kind,
        config.model,
        config.pretrain,
        data.name,
        cache_dir() / "models",
        config.seed,
        show_progress,
        copies,
    )
    if run_dir is not None and result.cache_dir is not None:
        copy_model(result.cache_dir, Path(run_dir) / "model")
    return result


def make_agent(config: RunConfig, data: RunData, model: PretrainResult | None) -> Agent:
    """A fresh agent of the run's algorithm on its action model, seeded from the run's seed.

    The agent holds its own copy of the model's arrays: training donates the agent's buffers, and `model`
    stays usable (for BC through it, for the next run) afterwards.
    """
    spec = algorithm(config.algo)
    own_model = jax.tree_util.tree_map(jnp.copy, model.model) if model else None
    return spec.agent.create(
        jax.random.PRNGKey(config.seed), data.transitions, own_model, config.agent, updates=config.loop.updates
    )


def _evaluator(data: RunData, episodes: int):
    act = jax.jit(lambda agent, observations: agent.act(observations))

    def run(agent: Agent) -> dict[str, float]:
        return evaluate(lambda obs: act(agent, obs), data.env_id, episodes, EVAL_SEED, data.references).summary()

    return run


def resumed_config(run_dir: Path, overrides: list[str]) -> RunConfig | None:
    """The saved config of a run to continue, with `overrides` applied; None when run_dir holds no run yet.

    Only the length of training and the evaluation may change on resume (loop.updates, loop.eval_every,
    eval_episodes): e.g. `--resume --set loop.updates=500000` extends a finished 300k-update run. Repeating
    the run's own `--set` values is fine: only a value that differs from the saved one is refused.
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    saved = load_config(path)
    for assignment in overrides:
        key = assignment.partition("=")[0]
        if key not in RESUMABLE_SETTINGS and _fixed_settings(with_overrides(saved, [assignment])) != _fixed_settings(saved):
            raise CnfrlError(
                f"{assignment}: a resumed run keeps its saved settings except {', '.join(RESUMABLE_SETTINGS)}; "
                f"start a new --run-dir to change {key}"
            )
    return with_overrides(saved, overrides)


def train_stage(
    config: RunConfig, run_dir: Path, resume: bool = False, show_progress: bool = True, overwrite: bool = False
) -> tuple[Agent, list[dict], RunData, PretrainResult | None]:
    """Pre-train (or reuse) the action model, then train the agent with periodic evaluation and checkpoints.

    With `resume`, a run already in run_dir continues from its last checkpoint; `config` must then equal the
    saved one except for the settings `resumed_config` lets change. Without it, a run directory that holds a
    run is refused unless `overwrite` (which clears that run's outputs first).
    """
    [(agent, history)], data, [model] = train_seeds([config], [run_dir], resume, show_progress, overwrite)
    return agent, history, data, model


def train_seeds(
    configs: list[RunConfig],
    run_dirs: list[Path],
    resume: bool = False,
    show_progress: bool = True,
    overwrite: bool = False,
    on_progress: Callable[[int], None] | None = None,
    data: RunData | None = None,
) -> tuple[list[tuple[Agent, list[dict]]], RunData, list[PretrainResult | None]]:
    """`train_stage` for runs that differ only in seed, trained as one vmapped program, each in its own run
    directory; returns each seed's (agent, history), the shared dataset and each seed's action model. `data`,
    when given, is the runs' dataset loaded already (`load_run_data`), e.g. shipped to a Ray worker. Each run
    directory is held by this process until training ends (a second writer is refused)."""
    check_seed_group(configs)
    if resume and overwrite:
        raise CnfrlError("--resume and --overwrite together: --resume continues the run, --overwrite replaces it; pass one")
    with owning(run_dirs):
        return _train_seeds(configs, [Path(d) for d in run_dirs], resume, show_progress, overwrite, on_progress, data)


@contextlib.contextmanager
def owning(run_dirs: list[Path]) -> Iterator[None]:
    """Hold every run directory for this process for the block (cnfrl.utils.files.owned): two processes never
    write one run directory at once."""
    with contextlib.ExitStack() as stack:
        for run_dir in run_dirs:
            stack.enter_context(owned(Path(run_dir), "this run directory"))
        yield


def _train_seeds(
    configs: list[RunConfig],
    run_dirs: list[Path],
    resume: bool,
    show_progress: bool,
    overwrite: bool,
    on_progress: Callable[[int], None] | None,
    data: RunData | None,
) -> tuple[list[tuple[Agent, list[dict]]], RunData, list[PretrainResult | None]]:
    for config, run_dir in zip(configs, run_dirs, strict=True):
        _prepare_run_dir(config, run_dir, resume, overwrite)
    config = configs[0]
    data = data or load_run_data(config, show_progress)
    if config.loop.batch_size > len(data.transitions):
        raise CnfrlError(
            f"loop.batch_size={config.loop.batch_size}: larger than the dataset ({len(data.transitions)} transitions)"
        )
    models = [pretrain_stage(c, data, run_dir, show_progress) for c, run_dir in zip(configs, run_dirs, strict=True)]
    runs = [
        SeedRun(make_agent(c, data, model), c.seed, Path(run_dir))
        for c, model, run_dir in zip(configs, models, run_dirs, strict=True)
    ]
    evaluate = _evaluator(data, config.eval_episodes)
    results = fit_seeds(runs, data.transitions, config.loop, evaluate, resume, show_progress, on_progress)
    return results, data, models


def check_seed_group(configs: list[RunConfig]) -> None:
    """Refuse to train runs together unless they differ in seed only (what one vmapped program can hold)."""
    seeds = [config.seed for config in configs]
    if len(set(seeds)) != len(seeds):
        raise CnfrlError(f"seeds {seeds}: runs trained together need different seeds")
    first = to_dict(dataclasses.replace(configs[0], seed=0))
    for config in configs[1:]:
        if to_dict(dataclasses.replace(config, seed=0)) != first:
            raise CnfrlError(
                f"seed {config.seed}: its config differs from seed {configs[0].seed}'s in more than the seed; "
                "only seeds of one configuration train together"
            )


def _prepare_run_dir(config: RunConfig, run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Check a run directory can take the run (refusing to replace a run unless asked) and save its config. A
    directory where nothing was trained yet (a config.json alone, left by a run that failed before its first
    checkpoint, e.g. on a bad dataset) holds no run: the corrected command takes it over."""
    validate(config)
    holds_run = holds_trained_run(run_dir)
    if holds_run and not resume:
        if not overwrite:
            raise CnfrlError(
                f"{run_dir}: holds a run already; pass --resume to continue it, --overwrite to replace it, "
                "or choose another --run-dir"
            )
        _clear_run(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / "config.json").is_file():
        _check_resumable(load_config(run_dir / "config.json"), config, run_dir)
    if resume and (run_dir / CHECKPOINT).is_file():
        check_extends(run_dir, checkpoint_updates(run_dir / CHECKPOINT), config.loop.updates)
    save_config(config, run_dir / "config.json")


def holds_trained_run(run_dir: Path) -> bool:
    """Whether run_dir holds something trained: a checkpoint, an evaluation or logged updates."""
    metrics = run_dir / "metrics.jsonl"
    trained = (run_dir / CHECKPOINT, run_dir / "eval.json")
    return any(path.is_file() for path in trained) or (metrics.is_file() and metrics.stat().st_size > 0)


RUN_OUTPUTS = ("config.json", "checkpoints", "metrics.jsonl", "tensorboard", "eval.json", "report.md", "plots", "model")


def _clear_run(run_dir: Path) -> None:
    """Remove what a run wrote into run_dir (and nothing else the user keeps there)."""
    for name in RUN_OUTPUTS:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _check_resumable(saved: RunConfig, config: RunConfig, run_dir: Path) -> None:
    saved_values, values = _fixed_settings(saved), _fixed_settings(config)
    changed = [name for name in saved_values if saved_values[name] != values[name]]
    if changed:
        raise CnfrlError(
            f"{run_dir}: the run was trained with other settings ({', '.join(changed)} differ from its config.json); "
            f"resume with the saved config (cnfrl.experiments.pipeline.resumed_config) or use a new run directory"
        )


def _fixed_settings(config: RunConfig) -> dict[str, Any]:
    """The config as plain values without the RESUMABLE_SETTINGS: what must not change when a run resumes."""
    values = to_dict(config)
    for setting in RESUMABLE_SETTINGS:
        *sections, name = setting.split(".")
        node = values
        for section in sections:
            node = node[section]
        del node[name]
    return values


def run(
    config: RunConfig, run_dir: Path, resume: bool = False, show_progress: bool = True, overwrite: bool = False
) -> dict[str, Any]:
    """The whole pipeline: dataset, action model, agent training, then the final evaluation and report
    (`cnfrl run`); returns the summary written to eval.json."""
    return run_seeds([config], [run_dir], resume, show_progress, overwrite)[0]


def run_seeds(
    configs: list[RunConfig],
    run_dirs: list[Path],
    resume: bool = False,
    show_progress: bool = True,
    overwrite: bool = False,
    on_progress: Callable[[int], None] | None = None,
    data: RunData | None = None,
) -> list[dict[str, Any]]:
    """`run` for seeds of one configuration trained together (`train_seeds`); one summary per seed."""
    with owning(run_dirs):
        _, data, models = train_seeds(configs, run_dirs, resume, show_progress, overwrite, on_progress, data)
        return [_evaluate(Path(run_dir), None, data, model) for run_dir, model in zip(run_dirs, models, strict=True)]


def evaluate_stage(run_dir: Path, episodes: int | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Evaluate a run's last checkpoint and BC through its action model (if any); write eval.json and report.md.

    The model is the one the training stage copied into run_dir/model.
    """
    with owning([run_dir]):
        _, data, model = _trained_inputs(Path(run_dir), show_progress)
        return _evaluate(Path(run_dir), episodes, data, model)


def evaluate_exported(
    run_dir: Path, policy_file: Path, episodes: int | None = None, show_progress: bool = True
) -> dict[str, Any]:
    """Evaluate an exported policy (`cnfrl export`) in the run's environment with the seeds the run's own
    evaluations use, so its score can be set beside eval.json's."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise CnfrlError(f"{run_dir}: no config.json; name the run directory the policy was exported from")
    config = load_config(run_dir / "config.json")
    act, metadata = load_exported(policy_file)
    data = load_run_data(config, show_progress)
    expected = data.transitions.observation_dim
    if int(metadata.get("observation_dim", expected)) != expected:
        raise CnfrlError(f"{policy_file}: takes {metadata['observation_dim']} observation values; {data.env_id} gives {expected}")
    episodes = episodes or config.eval_episodes
    return evaluate(act, data.env_id, episodes, EVAL_SEED, data.references).summary()


def trained_agent(run_dir: Path, show_progress: bool = True) -> tuple[Agent, RunConfig, RunData]:
    """A run's agent as its last checkpoint holds it, with the run's config and dataset (export, inspection)."""
    config, data, model = _trained_inputs(Path(run_dir), show_progress)
    agent, _, _ = _checkpointed_agent(Path(run_dir), config, data, model)
    return agent, config, data


def _checkpointed_agent(
    run_dir: Path, config: RunConfig, data: RunData, model: PretrainResult | None
) -> tuple[Agent, int, list[dict]]:
    """The agent of the run's last checkpoint, with its update count and evaluation history."""
    return load_checkpoint(run_dir / CHECKPOINT, make_agent(config, data, model))


def _trained_inputs(run_dir: Path, show_progress: bool) -> tuple[RunConfig, RunData, PretrainResult | None]:
    """Config, dataset and action model (the copy in run_dir/model) of a run that has a checkpoint."""
    if not (run_dir / CHECKPOINT).is_file():
        raise CnfrlError(f"{run_dir}: no checkpoint; run `cnfrl train` into this directory first")
    config = load_config(run_dir / "config.json")
    data = load_run_data(config, show_progress)
    stored = run_dir / "model"
    model = load_model(stored) if (stored / MODEL_FILE).is_file() else pretrain_stage(config, data, None, show_progress)
    return config, data, model


def _evaluate(run_dir: Path, episodes: int | None, data: RunData, model: PretrainResult | None) -> dict[str, Any]:
    config = load_config(run_dir / "config.json")
    agent, updates, history = _checkpointed_agent(run_dir, config, data, model)
    episodes = episodes or config.eval_episodes
    summary = {
        "algo": config.algo,
        "dataset": data.name,
        "env_id": data.env_id,
        "preset": config.preset,
        "seed": config.seed,
        "updates": updates,
        "eval_episodes": episodes,
        "hardware": describe_hardware(),
        "final": _evaluator(data, episodes)(agent),
    }
    if model is not None:
        bc_act = jax.jit(model.model.behaviour_action)
        summary["model"] = {"kind": model.model.kind, "best_epoch": model.best_epoch}
        summary["bc_model"] = evaluate(lambda obs: bc_act(obs), data.env_id, episodes, EVAL_SEED, data.references).summary()
    dataset_return = float(np.mean(data.transitions.episode_returns()))
    summary["dataset_return_mean"] = dataset_return
    summary["dataset_score_mean"] = dataset_score(data.references, data.name, data.transitions.metadata, dataset_return)
    write_atomically(run_dir / "eval.json", json.dumps(summary, indent=1, allow_nan=False) + "\n")
    write_run_report(run_dir, summary, history)
    return summary
