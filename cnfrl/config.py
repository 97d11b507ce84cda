"""Run configuration: one frozen dataclass with the paper's values as defaults, named presets, overrides."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnfrl.agents.latent import LatentConfig
from cnfrl.agents.registry import algorithm
from cnfrl.errors import CnfrlError
from cnfrl.flows.flow import FlowConfig
from cnfrl.pretrain import PretrainConfig
from cnfrl.train import LoopConfig
from cnfrl.vae import VAEConfig


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs; saved as config.json in the run directory, enough to reproduce it.

    `algo` names a registry entry (cnfrl.agents.registry); `agent` holds that algorithm's settings; `flow`
    or `vae` is the action model it pre-trains (if any). `dataset` None means the embedded default (a
    generated hopper-medium); `seed` drives everything.
    """

    algo: str = "cnf"
    dataset: str | None = None
    preset: str = "paper"
    seed: int = 0
    eval_episodes: int = 10
    flow: FlowConfig = field(default_factory=FlowConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    agent: Any = field(default_factory=LatentConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)

    @property
    def model_config(self) -> Any:
        """Settings of the algorithm's pre-trained action model (`flow` or `vae`), None when it has none."""
        kind = algorithm(self.algo).action_model
        return None if kind is None else getattr(self, kind)


SHARED_PRESETS: dict[str, RunConfig] = {
    "paper": RunConfig(),
    "cpu-quick": RunConfig(
        preset="cpu-quick",
        eval_episodes=5,
        flow=FlowConfig(blocks=6, hidden=128),
        pretrain=PretrainConfig(epochs=20, sample_states=256),
        loop=LoopConfig(updates=30_000, chunk=1_000, eval_every=5_000),
    ),
}
SECTIONS = {"flow": FlowConfig, "vae": VAEConfig, "pretrain": PretrainConfig, "loop": LoopConfig}


def preset(name: str, algo: str = "cnf") -> RunConfig:
    """A named preset of an algorithm: the shared sizing plus the algorithm's own settings and changes."""
    if name not in SHARED_PRESETS:
        raise CnfrlError(f"{name}: unknown preset; choose one of {', '.join(SHARED_PRESETS)}")
    spec = algorithm(algo)
    config = dataclasses.replace(SHARED_PRESETS[name], algo=algo, agent=spec.agent_presets[name])
    for section, fields in spec.changes.get(name, {}).items():
        config = dataclasses.replace(config, **{section: dataclasses.replace(getattr(config, section), **fields)})
    return config


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
    """Rebuild a RunConfig written by `to_dict` (tuples and nested sections restored)."""
    sections = {**SECTIONS, "agent": algorithm(values.get("algo", "cnf")).config_class}
    return RunConfig(**{key: _build(sections[key], value) if key in sections else value for key, value in values.items()})


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
    """Write config.json."""
    Path(path).write_text(json.dumps(to_dict(config), indent=1) + "\n")


def load_config(path: Path) -> RunConfig:
    """Read config.json."""
    return from_dict(json.loads(Path(path).read_text()))
