"""`cnfrl bench`: a grid trained with its seeds together, reused when finished, extended by a longer budget,
the same on Ray when a worker dies; its file format checked."""

import dataclasses
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from cnfrl.collect.recipes import collect_dataset
from cnfrl.data.builtin import parse_builtin
from cnfrl.errors import CnfrlError
from cnfrl.experiments.grid import Grid, load_grid_file, run_grid
from cnfrl.experiments.ray_grid import RayCluster, import_ray, train_on_ray
from cnfrl.training.checkpoints import CHECKPOINT, checkpoint_updates

TINY = (
    "flow.blocks=2",
    "flow.hidden=16",
    "pretrain.epochs=1",
    "pretrain.batch_size=128",
    "agent.actor_hidden=[16,16]",
    "agent.hidden=[16,16]",
    "agent.critic_hidden=[16,16]",
    "loop.batch_size=32",
    "loop.updates=100",
    "loop.chunk=50",
    "loop.eval_every=50",
    "eval_episodes=1",
)


# Long enough (4 checkpoints) for the Ray test to kill a worker between two of them.
GRID_SETTINGS = (*TINY, "loop.updates=400", "loop.eval_every=100")


@pytest.fixture(scope="module")
def local_grid(tmp_path_factory):
    """A tiny grid (cnf, bc x hopper-random x 2 seeds) trained by the local runner, once for the module, with
    the environment (dataset and model cache paths) a test needs to train it again."""
    root = tmp_path_factory.mktemp("grid")
    env = {"CNFRL_CACHE": str(root / "cache"), "MINARI_DATASETS_PATH": str(root / "minari")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        collect_dataset("hopper-random", steps=400, seed=0, root=root / "minari", show_progress=False)
        grid = Grid(algos=("cnf", "bc"), datasets=("hopper-random",), seeds=2, overrides=GRID_SETTINGS, out=root / "local")
        report, failures = run_grid(grid, show_progress=False)
        assert failures == []
    return grid, report, env


def use(env: dict[str, str], monkeypatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_a_grid_trains_then_reuses_finished_runs_and_extends_them(local_grid, tmp_path, monkeypatch):
    grid, report, env = local_grid
    use(env, monkeypatch)
    runs = sorted((grid.out / "runs").iterdir())
    assert [run.name.split("-")[:4] for run in runs] == [["hopper", "random", algo, "cpu"] for algo in ("bc",) * 2 + ("cnf",) * 2]
    assert sorted(json.loads((run / "eval.json").read_text())["seed"] for run in runs) == [0, 0, 1, 1]
    text = report.read_text()
    assert "| dataset | cnf | bc | data |" in text and text.count("(2)") == 6  # last 4, last evaluation, spread
    assert "seeds 0, 1" in text and "400 updates" in text
    shutil.copytree(grid.out, tmp_path / "bench")
    grid = dataclasses.replace(grid, out=tmp_path / "bench")
    runs = sorted((grid.out / "runs").iterdir())
    stamps = {run: (run / CHECKPOINT).stat().st_mtime_ns for run in runs}
    run_grid(grid, show_progress=False)
    assert {run: (run / CHECKPOINT).stat().st_mtime_ns for run in runs} == stamps
    longer = dataclasses.replace(grid, overrides=(*GRID_SETTINGS, "loop.updates=500"))
    run_grid(longer, show_progress=False)
    assert sorted((tmp_path / "bench" / "runs").iterdir()) == runs
    for run in runs:
        assert checkpoint_updates(run / CHECKPOINT) == 500
        steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert steps == list(range(50, 501, 50))


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # JAX warns of Ray's fork + exec
def test_a_ray_grid_equals_the_local_grid_even_when_a_worker_is_killed(local_grid, tmp_path, monkeypatch):
    """Two Ray workers train the grid's two groups; the worker training cnf is killed (SIGKILL) between two of
    its checkpoints. Ray runs its task again, which resumes from the checkpoints: every run ends byte for byte
    as the local runner's, and the report is the same."""
    import ray

    grid, report, env = local_grid
    use(env, monkeypatch)
    on_ray = dataclasses.replace(grid, out=tmp_path / "ray")
    killed: list[int] = []
    killer = threading.Thread(target=kill_mid_run, args=("ray::cnf on hopper-random", on_ray.out / "runs", killed))
    ray.init(num_cpus=2, log_to_driver=False)
    try:
        killer.start()
        ray_report, failures = run_grid(on_ray, show_progress=False, cluster=RayCluster())
    finally:
        killer.join()
        ray.shutdown()
    assert failures == [] and len(killed) == 1 and 0 < killed[0] < 400, killed
    for run in sorted((grid.out / "runs").iterdir()):
        twin = on_ray.out / "runs" / run.name
        assert (twin / CHECKPOINT).read_bytes() == (run / CHECKPOINT).read_bytes(), run.name
        assert json.loads((twin / "eval.json").read_text())["final"] == json.loads((run / "eval.json").read_text())["final"]
        assert not [path.name for path in twin.rglob(".*")], "a partial file was left behind"
    assert ray_report.read_text() == report.read_text()


def kill_mid_run(title: str, runs: Path, killed: list[int], timeout: float = 300.0) -> None:
    """SIGKILL the process whose title is `title` (Ray names a worker's process after its task) once the first
    run of that group has a checkpoint and no final evaluation; record the checkpoint's update count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not killed:
        group = sorted(runs.glob("*-cnf-*"))
        if group and (group[0] / CHECKPOINT).is_file() and not (group[0] / "eval.json").is_file():
            for pid in worker_pids(title):
                updates = checkpoint_updates(group[0] / CHECKPOINT)
                os.kill(pid, signal.SIGKILL)
                killed.append(updates)
                return
        time.sleep(0.01)


def worker_pids(title: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().split(b"\0")[0].decode() == title:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_no_cluster_at_the_address_is_a_one_line_error(tmp_path, monkeypatch):
    from ray._private.services import find_gcs_addresses

    if find_gcs_addresses():
        pytest.skip("a Ray cluster runs on this machine (a long grid?): address 'auto' would find it")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(CnfrlError, match=r"could not start or reach the Ray cluster at auto \(Could not find any running Ray"):
        train_on_ray([], RayCluster(address="auto"), "", show_progress=False)


def test_ray_missing_is_a_one_line_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(CnfrlError, match=r"--ray needs Ray, an optional extra: pip install 'cnfrl\[ray\]'"):
        import_ray()


def test_grid_file_is_read_and_checked(tmp_path: Path):
    path = tmp_path / "grid.yaml"
    path.write_text("algos: [cnf, bc]\ndatasets: hopper-medium\nseeds: 2\nset: [loop.updates=1000]\n")
    grid = load_grid_file(path)
    assert (grid.algos, grid.datasets, grid.seeds, grid.set) == (["cnf", "bc"], ["hopper-medium"], 2, ["loop.updates=1000"])
    path.write_text("algos: [cnf]\nseed: 3\n")
    with pytest.raises(
        CnfrlError, match="unknown key seed; a grid file takes algos, datasets, first_seed, out, preset, seeds, set"
    ):
        load_grid_file(path)
    path.write_text("algos: [cnf\n")
    with pytest.raises(CnfrlError, match="not valid YAML"):
        load_grid_file(path)
    with pytest.raises(CnfrlError, match="a grid needs at least one algorithm and one dataset"):
        Grid(algos=("cnf",), datasets=()).groups()
    with pytest.raises(CnfrlError, match="unknown setting 'actor_hiden'"):
        Grid(algos=("cnf", "bc"), datasets=("hopper-medium",), overrides=("agent.actor_hiden=[8]",)).groups()
    mixed = Grid(algos=("cnf", "bc"), datasets=("hopper-medium",), seeds=2, overrides=("agent.actor_hidden=[8]",)).groups()
    assert [configs[1].agent.actor_hidden for configs, _ in mixed[:1]] == [(8,)] and mixed[1][0][1].seed == 1


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).parent.parent / "benchmarks" / "grids").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_grid_files_name_registered_algorithms_datasets_and_settings(path: Path):
    file = load_grid_file(path)
    grid = Grid(
        algos=tuple(file.algos),
        datasets=tuple(file.datasets),
        seeds=file.seeds or 3,
        preset=file.preset or "cpu-quick",
        overrides=tuple(file.set),
    )
    groups = grid.groups()
    assert len(groups) == len(file.algos) * len(file.datasets)
    assert all(parse_builtin(name) is not None for name in file.datasets)
    assert all(len(configs) == grid.seeds for configs, _ in groups)
