"""Run configuration as data: one frozen dataclass, overrides, and its JSON form.

The presets live with their algorithms (cnfrl.experiments.registry), which also reads a saved config back.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cnfrl
from cnfrl.errors import CnfrlError
from cnfrl.models import MODELS
from cnfrl.models.pretrain import PretrainConfig
from cnfrl.training.loop import LoopConfig
from cnfrl.utils.files import write_atomically

VERSION_KEY = "cnfrl_version"


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; saved as config.json in the run directory, enough to reproduce it.

    `algo` names a registry entry (cnfrl.experiments.registry), which holds its presets; `agent` holds that
    algorithm's settings, `model` and `pretrain` those of the action model it pre-trains (a FlowConfig or
    VAEConfig) and of its pre-training, both None when it pre-trains none. `dataset` None means the embedded
    default (a generated hopper-medium); `env` the Gymnasium id to evaluate in when the dataset names none (a
    D4RL file), else the dataset's own; `seed` drives everything.
    """

    algo: str = "cnf"
    dataset: str | None = None
    env: str | None = None
    preset: str = "paper"
    seed: int = 0
    eval_episodes: int = 10
    model: Any = None
    pretrain: PretrainConfig | None = field(default_factory=PretrainConfig)
    agent: Any = None
    loop: LoopConfig = field(default_factory=LoopConfig)


def with_overrides(config: RunConfig, assignments: list[str]) -> RunConfig:
    """Apply `section.field=value` assignments (e.g. agent.awr_lambda=1, loop.updates=5000, seed=3).

    The action model's section may be named `model` or by its kind (`flow.blocks=6` under cnf); a section the
    algorithm does not use is an error, not a silent no-op.
    """
    for assignment in assignments:
        path, _, text = assignment.partition("=")
        if not _:
            raise CnfrlError(f"{assignment}: expected KEY=VALUE, e.g. loop.batch_size=256")
        config = _set(config, _section_path(config, path.split("."), assignment), text, assignment)
    return config


def applicable(config: RunConfig, assignments: list[str]) -> list[str]:
    """The assignments of a grid-wide list that this run has a setting for: `pretrain.epochs=5` leaves BC and
    LAPO, which pre-train nothing, alone, `flow.blocks=4` leaves PLAS's VAE, `agent.actor_hidden` leaves BC.
    (A grid checks that each assignment fits at least one of its runs, so a typo is not skipped silently.)"""

    def fits(assignment: str) -> bool:
        try:
            with_overrides(config, [assignment])
        except CnfrlError:
            return False
        return True

    return [a for a in assignments if fits(a)]


def _section_path(config: RunConfig, path: list[str], assignment: str) -> list[str]:
    section = path[0]
    if section in MODELS or (section == "model" and len(path) > 1):
        if config.model is None:
            raise CnfrlError(f"{assignment}: {config.algo} pre-trains no action model, so it has no {section} settings")
        if section in MODELS and not isinstance(config.model, MODELS[section].config_class):
            used = next(kind for kind, model in MODELS.items() if isinstance(config.model, model.config_class))
            raise CnfrlError(f"{assignment}: {config.algo} pre-trains a {used}, not a {section}; set {used}.* or model.*")
        return ["model", *path[1:]]
    if section == "pretrain" and config.pretrain is None:
        raise CnfrlError(f"{assignment}: {config.algo} pre-trains no action model, so it has no pretrain settings")
    if section == "agent" and path[1:] == ["batch_size"]:
        raise CnfrlError(f"{assignment}: the batch size is a loop setting; use loop.batch_size")
    return path


def _set(config: Any, path: list[str], text: str, assignment: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(config)}
    if path[0] not in names:
        raise CnfrlError(f"{assignment}: unknown setting '{path[0]}'; choose one of {', '.join(names)}")
    current = getattr(config, path[0])
    if len(path) > 1:
        return dataclasses.replace(config, **{path[0]: _set(current, path[1:], text, assignment)})
    kind = typing.get_type_hints(type(config))[path[0]]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if isinstance(current, tuple) and isinstance(value, list):
        value = tuple(value)
    elif isinstance(current, float) and isinstance(value, int):
        value = float(value)
    elif current is not None and not isinstance(value, type(current)) and kind is not typing.Any:
        raise CnfrlError(f"{assignment}: '{path[0]}' expects {type(current).__name__}, got {text!r}")
    return dataclasses.replace(config, **{path[0]: value})


def validate(config: RunConfig) -> None:
    """Refuse settings no run can use, before any data is loaded: one line naming the setting and the fix."""
    config.loop.check()
    agent = config.agent
    checks = [
        (config.eval_episodes > 0, f"eval_episodes={config.eval_episodes}: evaluation needs at least one episode"),
        (0.0 < getattr(agent, "gamma", 0.99) <= 1.0, f"agent.gamma={getattr(agent, 'gamma', None)}: the discount lies in (0, 1]"),
        (0.0 <= getattr(agent, "tau", 0.0) <= 1.0, f"agent.tau={getattr(agent, 'tau', None)}: the target rate lies in [0, 1]"),
    ]
    for ok, message in checks:
        if not ok:
            raise CnfrlError(message)


def to_dict(config: RunConfig) -> dict[str, Any]:
    """The config as plain JSON-able values."""
    return dataclasses.asdict(config)


def from_dict(values: dict[str, Any], agent_class: type, model_class: type | None, source: object = "config") -> RunConfig:
    """Rebuild a RunConfig written by `to_dict` (tuples and nested sections restored), given the classes of
    its algorithm's `agent` and `model` settings (cnfrl.experiments.registry.load_config looks them up). A config
    of another layout (another cnfrl version's) is a one-line error naming the version that wrote it."""
    version = written_by(values)
    values = {key: value for key, value in values.items() if key != VERSION_KEY}
    sections: dict[str, type | None] = {
        "agent": agent_class,
        "model": model_class,
        "pretrain": PretrainConfig,
        "loop": LoopConfig,
    }
    try:
        built = {}
        for key, value in values.items():
            section = sections.get(key)
            built[key] = _build(section, value) if section is not None and value is not None else value
        return RunConfig(**built)
    except (TypeError, KeyError) as error:
        raise CnfrlError(
            f"{source}: settings of another layout ({str(error)[:100]}); it was written by cnfrl "
            f"{version} (this is {cnfrl.__version__}): train the run again into a new run directory"
        ) from error


def written_by(values: dict[str, Any]) -> str:
    """The cnfrl version a saved config names, or that it names none (written before 0.1.0 stamped them)."""
    return str(values.get(VERSION_KEY, "a version before 0.1.0 stamped its configs"))


def _build(kind: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(kind)
    built = {}
    for key, value in values.items():
        if dataclasses.is_dataclass(hints[key]) and isinstance(value, dict):
            value = _build(hints[key], value)
        elif isinstance(value, list):
            value = tuple(value)
        built[key] = value
    return kind(**built)


def save_config(config: RunConfig, path: Path) -> None:
    """Write config.json, stamped with the cnfrl version that wrote it."""
    write_atomically(Path(path), json.dumps({**to_dict(config), VERSION_KEY: cnfrl.__version__}, indent=1) + "\n")
