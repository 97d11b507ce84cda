"""`cnfrl bench --ray`: a grid's groups of seeds as Ray tasks, on this machine or on a Ray cluster.

Each (algorithm, dataset) group is one task asking for `cpus_per_task` CPUs and `gpus_per_task` GPUs. It trains
its seeds as the local runner does (`pipeline.run_seeds`, seeds vmapped) into the same run directories, resuming
from whatever checkpoints they hold, so a retry after a worker dies is a resume: Ray starts the task again on
another worker (up to `max_retries` times) and every run ends as an undisturbed one would. Datasets are loaded
once, here, and reach the workers through Ray's object store, so no worker reads or generates one itself. Run
directories must be visible at the same path on every node (a shared file system); so should CNFRL_CACHE if
nodes are to share pre-trained flows.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnfrl.errors import CnfrlError
from cnfrl.experiments.config import RunConfig
from cnfrl.experiments.groups import Group, group_name, remaining_updates, scores_text
from cnfrl.experiments.pipeline import RunData, load_run_data, run_seeds
from cnfrl.utils.hardware import single_thread_xla_flags
from cnfrl.utils.progress import progress_bar

# Environment variables a worker must see as the driver does: where pre-trained models and datasets live.
SHARED_SETTINGS = ("CNFRL_CACHE", "MINARI_DATASETS_PATH")


@dataclass(frozen=True)
class RayCluster:
    """Where `cnfrl bench --ray` sends its runs: a cluster's address (None: start Ray on this machine) and what
    each task (one group of seeds) asks of it."""

    address: str | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 3


def import_ray() -> Any:
    """Ray, or a one-line error saying how to install it (it is an optional extra)."""
    try:
        import ray
    except ModuleNotFoundError as error:
        raise CnfrlError("--ray needs Ray, an optional extra: pip install 'cnfrl[ray]' (or pip install ray)") from error
    return ray


def train_on_ray(todo: list[Group], cluster: RayCluster, header: str, show_progress: bool) -> list[str]:
    """Train the groups as Ray tasks (Ray started here unless `cluster.address` names a cluster, or this process
    has connected already); one line per group that failed."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        with warnings.catch_warnings():  # JAX warns of any fork; Ray's is a fork + exec of its own processes
            warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
            try:
                context = ray.init(address=cluster.address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"the Ray cluster at {cluster.address}" if cluster.address else "a local Ray"
                raise CnfrlError(
                    f"could not start or reach {where} ({str(error).splitlines()[0]}); "
                    "on the head node run `ray start --head`, then pass its HEAD_IP:6379 to --ray-address"
                ) from error
    try:
        waiting = check_resources(ray, cluster, started_here)
        with progress_bar() as bar:
            bar.console.log(header)
            if waiting:
                bar.console.log(f"[yellow]{waiting}")
            if started_here and getattr(context, "dashboard_url", None):
                bar.console.log(f"Ray dashboard: http://{context.dashboard_url}")
            return _run_tasks(ray, todo, cluster, bar, show_progress)
    finally:
        if started_here:
            ray.shutdown()


def check_resources(ray: Any, cluster: RayCluster, started_here: bool) -> str | None:
    """Refuse at once a task no node can hold (it would wait forever at "0 running"): on a Ray started here, which
    cannot grow, a one-line error naming what a task asks and what the largest node has. On a cluster one
    connected to, which an autoscaler may grow, the line to show for what the tasks wait; None when a node fits."""
    asked = {"CPU": cluster.cpus_per_task, "GPU": cluster.gpus_per_task}
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive", True)]
    if any(all(node.get(name, 0.0) >= amount for name, amount in asked.items()) for node in nodes):
        return None
    have = "; ".join(f"{node.get('CPU', 0):g} CPUs, {node.get('GPU', 0):g} GPUs" for node in nodes) or "no live node"
    wanted = f"{cluster.cpus_per_task:g} CPUs and {cluster.gpus_per_task:g} GPUs"
    if started_here:
        raise CnfrlError(
            f"--task-cpus {cluster.cpus_per_task:g} --task-gpus {cluster.gpus_per_task:g}: each task asks for {wanted}, "
            f"and no node of this Ray has that ({have}); ask for at most what one node has"
        )
    return f"no node has {wanted} for a task yet ({have}): the tasks wait until the cluster adds one (autoscaling)"


def runtime_env(cluster: RayCluster) -> dict[str, Any]:
    """What every worker's environment needs: the driver's cache and dataset paths and, for one-CPU CPU tasks,
    single-threaded XLA (several multi-threaded JAX processes on the same cores slow each other down ~5x)."""
    env_vars = {name: str(Path(os.environ[name]).absolute()) for name in SHARED_SETTINGS if name in os.environ}
    if cluster.gpus_per_task == 0 and cluster.cpus_per_task <= 1:
        env_vars["XLA_FLAGS"] = single_thread_xla_flags()
    return {"env_vars": env_vars}


def _run_tasks(ray: Any, todo: list[Group], cluster: RayCluster, bar: Any, show: bool) -> list[str]:
    """Submit every group, then follow them to the end: progress over the grid, scores as groups finish."""
    tracker = ray.remote(num_cpus=0)(GroupTracker).remote()
    made = {group_name(configs): _updates_made(configs, dirs) for configs, dirs in todo}
    total = sum(c.loop.updates for configs, _ in todo for c in configs)
    progress = bar.add_task("ray", total=total, completed=sum(made.values()), visible=show)
    pending = _submit(ray, todo, cluster, tracker, show)
    failures: list[str] = []
    finished: set[str] = set()
    attempts_seen: dict[str, int] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        for ref in ready:
            name = pending.pop(ref)
            finished.add(name)
            failure = _outcome(ray, ref, name, cluster, bar)
            if failure:
                failures.append(failure)
        updates, attempts = ray.get(tracker.state.remote())
        made.update(updates)
        for name, count in attempts.items():
            if count > attempts_seen.get(name, 1):
                bar.console.log(f"[yellow]{name}: its worker was lost; resumed from its last checkpoint (attempt {count})")
            attempts_seen[name] = count
        running = len(set(attempts) - finished)
        bar.update(
            progress,
            completed=sum(made.values()),
            description=f"ray: {len(finished)} done, {running} running, {len(todo) - len(finished) - running} queued",
        )
    return failures


def _submit(ray: Any, todo: list[Group], cluster: RayCluster, tracker: Any, show: bool) -> dict[Any, str]:
    """One task per group, each dataset loaded here once and put in the object store; {task's ref: group name}."""
    task, env = ray.remote(_train_group), runtime_env(cluster)
    datasets: dict[tuple[Any, ...], Any] = {}
    pending = {}
    for configs, dirs in todo:
        key = (configs[0].dataset, configs[0].env)
        if key not in datasets:
            datasets[key] = ray.put(load_run_data(configs[0], show_progress=show))
        name = group_name(configs)
        options = {"name": name, "num_cpus": cluster.cpus_per_task, "num_gpus": cluster.gpus_per_task, "runtime_env": env}
        ref = task.options(**options, max_retries=cluster.max_retries, retry_exceptions=False).remote(
            configs, [Path(d).absolute() for d in dirs], datasets[key], tracker, name
        )
        pending[ref] = name
    return pending


def _outcome(ray: Any, ref: Any, name: str, cluster: RayCluster, bar: Any) -> str | None:
    """Log a finished task's scores; the failure line if it failed (an error in the run, or workers lost)."""
    try:
        bar.console.log(f"{name}: {scores_text(ray.get(ref))}")
        return None
    except ray.exceptions.RayTaskError as error:
        failure = f"{name}: {error.cause}"
    except ray.exceptions.RayError as error:
        failure = (
            f"{name}: its worker was lost {cluster.max_retries + 1} times ({type(error).__name__}); run the grid again to resume"
        )
    bar.console.log(f"[red]failed[/]: {failure}")
    return failure


class GroupTracker:
    """A Ray actor the tasks report to: updates each group has made (its checkpoints' plus its current attempt's),
    and how many times each task started."""

    def __init__(self) -> None:
        self.updates: dict[str, int] = {}
        self.attempts: dict[str, int] = {}

    def started(self, name: str, updates: int) -> None:
        """A task began (or began again after its worker died) with `updates` made already (its checkpoints')."""
        self.updates[name] = updates
        self.attempts[name] = self.attempts.get(name, 0) + 1

    def advanced(self, name: str, updates: int) -> None:
        """The task made `updates` more updates (summed over its seeds)."""
        self.updates[name] += updates

    def state(self) -> tuple[dict[str, int], dict[str, int]]:
        """Updates made per group, and how many times each task started."""
        return self.updates, self.attempts


def _train_group(configs: list[RunConfig], run_dirs: list[Path], data: RunData, tracker: Any, name: str) -> list[dict[str, Any]]:
    """One Ray task: a group's seeds trained (or resumed) and evaluated; their eval.json summaries."""
    tracker.started.remote(name, _updates_made(configs, run_dirs))
    return run_seeds(
        configs, run_dirs, resume=True, show_progress=False, on_progress=lambda n: tracker.advanced.remote(name, n), data=data
    )


def _updates_made(configs: list[RunConfig], run_dirs: list[Path]) -> int:
    """The updates a group's checkpoints hold, summed over its seeds."""
    return sum(c.loop.updates for c in configs) - remaining_updates([(configs, run_dirs)])
