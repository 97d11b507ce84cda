"""`cnfrl bench`: a grid of algorithms x datasets x seeds, trained one (algorithm, dataset) at a time with its
seeds vmapped in one program, then reported (`cnfrl.experiments.report`).

Every run lands in OUT/runs/ under the name `cnfrl run` would give it, so a grid run again reuses the runs that
finished, resumes those that were cut off (or that a longer `loop.updates` extends) and trains the rest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cnfrl.errors import CnfrlError
from cnfrl.experiments.config import applicable, with_overrides
from cnfrl.experiments.groups import Group, finished, group_name, remaining_updates, scores_text
from cnfrl.experiments.pipeline import run_seeds
from cnfrl.experiments.ray_grid import RayCluster, train_on_ray
from cnfrl.experiments.report import write_grid_report
from cnfrl.experiments.runs import build_config, run_dir_for, seed_configs
from cnfrl.utils.progress import progress_bar


@dataclass(frozen=True)
class Grid:
    """What a benchmark grid trains: every algorithm on every dataset with `seeds` seeds from `first_seed`,
    at one preset with the same `--set` overrides (each run takes those its algorithm has a setting for)."""

    algos: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: int = 3
    first_seed: int = 0
    preset: str = "cpu-quick"
    overrides: tuple[str, ...] = ()
    out: Path = Path("bench")

    def groups(self) -> list[Group]:
        """One (configs, run directories) pair per algorithm and dataset: the seeds that train together."""
        if not self.algos or not self.datasets:
            raise CnfrlError("a grid needs at least one algorithm and one dataset (--algo, --dataset or the grid file)")
        bases = [
            build_config(algo, self.preset, dataset, seed=self.first_seed) for dataset in self.datasets for algo in self.algos
        ]
        taken = [applicable(base, list(self.overrides)) for base in bases]
        for assignment in self.overrides:
            if not any(assignment in overrides for overrides in taken):
                with_overrides(bases[0], [assignment])  # fits no run: raise its own error
                raise CnfrlError(f"{assignment}: no algorithm of the grid has this setting")
        groups = []
        for base, overrides in zip(bases, taken, strict=True):
            configs = seed_configs(build_config(base.algo, self.preset, base.dataset, overrides, self.first_seed), self.seeds)
            groups.append((configs, [run_dir_for(c, overrides, self.out / "runs") for c in configs]))
        return groups


@dataclass
class GridFile:
    """The keys a grid file may hold (YAML); flags given on the command line take precedence."""

    algos: list[str] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    seeds: int | None = None
    first_seed: int | None = None
    preset: str | None = None
    set: list[str] = field(default_factory=list)
    out: str | None = None


def load_grid_file(path: Path) -> GridFile:
    """Read a YAML grid file (keys: algos, datasets, seeds, first_seed, preset, set, out); unknown keys and
    malformed files are one-line errors."""
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as error:
        raise CnfrlError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from error
    if not isinstance(values, dict):
        raise CnfrlError(f"{path}: a grid file is a mapping of keys (algos, datasets, seeds, preset, set, out)")
    known = {f.name for f in dataclasses.fields(GridFile)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CnfrlError(f"{path}: unknown key {', '.join(unknown)}; a grid file takes {', '.join(sorted(known))}")
    for key in ("algos", "datasets", "set"):
        if isinstance(values.get(key), str):
            values[key] = [values[key]]
    return GridFile(**values)


def run_grid(grid: Grid, show_progress: bool = True, cluster: RayCluster | None = None) -> tuple[Path, list[str]]:
    """Train what the grid still lacks, here or as Ray tasks on `cluster`, then write its report; returns the
    report's path and one line per (algorithm, dataset) that failed (the others still train and are reported)."""
    groups = grid.groups()
    todo = [(configs, dirs) for configs, dirs in groups if not all(map(finished, configs, dirs))]
    header = f"{len(groups)} (algorithm, dataset) groups of {grid.seeds} seeds: {len(groups) - len(todo)} finished already"
    if cluster is None:
        failures = _train_here(todo, header, show_progress)
    else:
        failures = train_on_ray(todo, cluster, header, show_progress)
    done = [d for _, dirs in groups for d in dirs if (d / "eval.json").is_file()]
    if not done:
        raise CnfrlError("no run of the grid finished: " + "; ".join(failures))
    return write_grid_report(done, grid.out), failures


def _train_here(todo: list[Group], header: str, show_progress: bool) -> list[str]:
    """Train the groups one after another in this process; one line per group that failed."""
    failures: list[str] = []
    with progress_bar() as bar:
        task = bar.add_task("grid", total=remaining_updates(todo), visible=show_progress)
        bar.console.log(header)
        for index, (configs, dirs) in enumerate(todo):
            name = group_name(configs)
            bar.update(task, description=f"grid {index + 1}/{len(todo)}: {name}")
            try:
                summaries = run_seeds(configs, dirs, resume=True, show_progress=False, on_progress=lambda n: bar.advance(task, n))
            except CnfrlError as error:
                failures.append(f"{name}: {error}")
                bar.console.log(f"[red]failed[/]: {name}: {error}")
                continue
            bar.console.log(f"{name}: {scores_text(summaries)}")
    return failures
