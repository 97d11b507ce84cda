"""How a run is set up and named: the one function that turns (algorithm, preset, dataset, `--set` values) into a
RunConfig, and the one rule that names its run directory. `cnfrl run`/`train`/`pretrain`, `cnfrl bench`, Ray
and every benchmark script call these two, so the same run always gets the same config and the same directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

from cnfrl.data.builtin import DEMO_NAME
from cnfrl.errors import CnfrlError
from cnfrl.experiments.config import RunConfig, with_overrides
from cnfrl.experiments.registry import preset

RESUMABLE_SETTINGS = ("loop.updates", "loop.eval_every", "eval_episodes")


def build_config(
    algo: str,
    preset_name: str,
    dataset: str | None = None,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    env: str | None = None,
) -> RunConfig:
    """The whole config of one run: the algorithm's preset, then the `--set` assignments, then the dataset, the
    environment and the seed. (A grid first keeps, of its shared `--set` list, what each algorithm has a
    setting for: cnfrl.experiments.config.applicable.)"""
    config = with_overrides(preset(preset_name, algo), list(overrides))
    config = dataclasses.replace(config, dataset=dataset if dataset is not None else config.dataset, env=env or config.env)
    return dataclasses.replace(config, seed=seed) if seed is not None else config


def seed_configs(config: RunConfig, seeds: int) -> list[RunConfig]:
    """`config` for `seeds` consecutive seeds, starting at its own."""
    if seeds < 1:
        raise CnfrlError(f"--seeds {seeds}: train at least one seed")
    return [dataclasses.replace(config, seed=config.seed + i) for i in range(seeds)]


def run_dir_for(config: RunConfig, overrides: Sequence[str], root: Path = Path("runs")) -> Path:
    """ROOT/DATASET-ALGO-PRESET-sSEED, plus a short hash of the `--set` values when any would change the run
    (those a resume may change, RESUMABLE_SETTINGS, leave the name alone): two runs that differ only in an
    override never share a directory, and the same command with `--resume` finds its run again."""
    stem = (config.dataset or DEMO_NAME).replace("/", "_").replace(".", "_")
    name = f"{Path(stem).name}-{config.algo}-{config.preset}-s{config.seed}"
    changing = sorted(o for o in overrides if o.partition("=")[0] not in RESUMABLE_SETTINGS)
    if changing:
        name += "-" + hashlib.blake2b("\n".join(changing).encode(), digest_size=4).hexdigest()
    return Path(root) / name
