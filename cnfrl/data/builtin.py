"""Names of the datasets cnfrl generates itself, and the Minari ids they are stored under."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cnfrl.data.minari import minari_root
from cnfrl.utils.paths import cache_dir

MUJOCO_TASKS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5", "ant": "Ant-v5"}
MUJOCO_LEVELS = ("random", "medium", "medium-replay", "expert", "medium-expert")
MAZES = ("umaze", "medium", "large")
NAMESPACE = "cnfrl"
VERSION = 0

_MUJOCO = re.compile(rf"^({'|'.join(MUJOCO_TASKS)})-({'|'.join(MUJOCO_LEVELS)})$")
_MAZE = re.compile(rf"^maze2d-({'|'.join(MAZES)})(-dense)?$")


@dataclass(frozen=True)
class BuiltinName:
    """A parsed built-in name: `task` is a MuJoCo task or 'maze2d'; `level` the D4RL level or the maze."""

    name: str
    task: str
    level: str
    dense: bool = False

    @property
    def dataset_id(self) -> str:
        """The Minari id the dataset is written under, e.g. cnfrl/hopper/medium-v0, cnfrl/maze2d/umaze-dense-v0."""
        return f"{NAMESPACE}/{self.task}/{self.level}{'-dense' if self.dense else ''}-v{VERSION}"

    def path(self, root: Path | None = None) -> Path:
        """Where the dataset lives: its Minari id under `root`, by default the Minari data path."""
        return (Path(root) if root is not None else minari_root()) / self.dataset_id


def parse_builtin(name: str) -> BuiltinName | None:
    """Parse `hopper-medium`-style or `maze2d-umaze[-dense]` names; None for anything else."""
    match = _MUJOCO.match(name)
    if match is not None:
        return BuiltinName(name, match.group(1), match.group(2))
    match = _MAZE.match(name)
    if match is not None:
        return BuiltinName(name, "maze2d", match.group(1), dense=match.group(2) is not None)
    return None


def builtin_names() -> list[str]:
    """Every built-in dataset name, for help texts and error messages."""
    names = [f"{task}-{level}" for task in MUJOCO_TASKS for level in MUJOCO_LEVELS]
    return names + [f"maze2d-{maze}{suffix}" for maze in MAZES for suffix in ("", "-dense")]


# The embedded default dataset (`cnfrl run` with none named, `make run`): a 100k-step hopper-medium collected once
# with the packaged behaviour policy into the cache, named hopper-medium-demo wherever a dataset is named.
DEMO_NAME = "hopper-medium-demo"
DEMO_RECIPE = "hopper-medium"
DEMO_STEPS = 100_000


def demo_root() -> Path:
    """The Minari root the demo dataset is written under (in the cache, apart from the user's datasets)."""
    return cache_dir() / "demo-datasets"


def demo_path() -> Path:
    """Where the demo dataset lives once generated."""
    builtin = parse_builtin(DEMO_RECIPE)
    assert builtin is not None
    return builtin.path(demo_root())
