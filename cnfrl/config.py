"""Run configuration: one frozen dataclass with the paper's values as defaults, named presets, overrides."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnfrl.agents.cnf import CNFConfig
from cnfrl.errors import CnfrlError
from cnfrl.flows.flow import FlowConfig
from cnfrl.flows.pretrain import PretrainConfig
from cnfrl.train import LoopConfig

@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; saved as config.json in the run directory, enough to reproduce it.

    `dataset` None means the embedded default (a generated hopper-medium); `seed` drives everything.
    """

    dataset: str | None = None
    preset: str = "paper"
    seed: int = 0
    eval_episodes: int = 10
    flow: FlowConfig = field(default_factory=FlowConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    agent: CNFConfig = field(default_factory=CNFConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)


PRESETS: dict[str, RunConfig] = {
    "paper": RunConfig(),
    "cpu-quick": RunConfig(
        preset="cpu-quick",
        eval_episodes=5,
        flow=FlowConfig(blocks=6, hidden=128),
        pretrain=PretrainConfig(epochs=20, sample_states=256),
        agent=CNFConfig(actor_hidden=(256, 256), critic_hidden=(256, 256), batch_size=256),
        loop=LoopConfig(updates=30_000, chunk=1_000, eval_every=5_000),
    ),
}


def preset(name: str) -> RunConfig:
    """A named preset; a one-line error lists the valid names."""
    if name not in PRESETS:
        raise CnfrlError(f"{name}: unknown preset; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def with_overrides(config: Any, assignments: list[str]) -> Any:
    """Apply `section.field=value` assignments (e.g. agent.batch_size=256, loop.updates=5000, seed=3)."""
    for assignment in assignments:
        path, _, text = assignment.partition("=")
        if not _:
            raise CnfrlError(f"{assignment}: expected KEY=VALUE, e.g. agent.batch_size=256")
        config = _set(config, path.split("."), text, assignment)
    return config


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


def to_dict(config: RunConfig) -> dict[str, Any]:
    """The config as plain JSON-able values."""
    return dataclasses.asdict(config)


def from_dict(values: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig written by `to_dict` (tuples restored)."""
    sections = {"flow": FlowConfig, "pretrain": PretrainConfig, "agent": CNFConfig, "loop": LoopConfig}
    built = {}
    for key, value in values.items():
        if key in sections:
            value = sections[key](**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
        built[key] = value
    return RunConfig(**built)


def save_config(config: RunConfig, path: Path) -> None:
    """Write config.json."""
    Path(path).write_text(json.dumps(to_dict(config), indent=1) + "\n")


def load_config(path: Path) -> RunConfig:
    """Read config.json."""
    return from_dict(json.loads(Path(path).read_text()))
