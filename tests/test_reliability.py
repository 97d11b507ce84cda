"""Faults a run meets outside the happy path: two writers on one run directory, damaged run files, a Ray task no
node can hold, a run that failed before training, and settings or names that cannot work. Each is refused with one
line that names the problem and what to do, and nothing trained is lost."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnfrl.errors import CnfrlError
from cnfrl.training.checkpoints import CHECKPOINT

TINY_BC = [
    *("--algo", "bc", "--set", "agent.hidden=[16,16]", "--set", "loop.batch_size=32", "--set", "eval_episodes=1"),
    *("--set", "loop.chunk=100", "--set", "loop.eval_every=100"),
]


def cnfrl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from cnfrl.cli import main; main()", *args], env=env, capture_output=True, text=True
    )


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """The error a command printed, checked to be one line without a traceback holding every fragment."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder with a small generated hopper-random, its own Minari path and cache, and one finished tiny BC run
    (200 updates, checkpoints at 100 and 200) in run/."""
    root = tmp_path_factory.mktemp("reliability")
    env = {**os.environ, "MINARI_DATASETS_PATH": str(root / "minari"), "CNFRL_CACHE": str(root / "cache")}
    assert cnfrl("collect", "hopper-random", "--steps", "2000", env=env).returncode == 0
    done = cnfrl("run", "hopper-random", *TINY_BC, "--set", "loop.updates=200", "--run-dir", str(root / "run"), env=env)
    assert done.returncode == 0, done.stderr
    return root, env


def copy_run(world: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(world[0] / "run", run_dir)
    return run_dir


def test_a_second_writer_is_refused_with_the_holders_pid_and_host_and_a_dead_holders_lock_is_taken_over(world, tmp_path):
    """Two real processes: the second, started with --resume (what the "holds a run already" message suggests)
    once the first has a checkpoint, is refused while the first lives; after a kill -9 of the first, the same
    command takes the directory over and finishes, and metrics.jsonl holds each update once, in order."""
    _, env = world
    run_dir = tmp_path / "run"
    args = ["run", "hopper-random", *TINY_BC, "--set", "loop.updates=30000", "--run-dir", str(run_dir)]
    first = subprocess.Popen(
        [sys.executable, "-c", "from cnfrl.cli import main; main()", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180
        while not (run_dir / CHECKPOINT).is_file() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first run ended before the second could start"
        second = cnfrl(*args, "--resume", env=env)
        one_line_error(second, "in use by another cnfrl process", f"pid {first.pid} on host {socket.gethostname()}")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    taken_over = cnfrl(*args, "--resume", env=env)
    assert taken_over.returncode == 0, taken_over.stderr
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(100, 30001, 100))


def test_a_damaged_checkpoint_names_the_file_and_the_intact_previous_one(world, tmp_path):
    run_dir = copy_run(world, tmp_path)
    checkpoint = run_dir / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    resume = ["run", "hopper-random", *TINY_BC, "--set", "loop.updates=300", "--run-dir", str(run_dir), "--resume"]
    line = one_line_error(
        cnfrl(*resume, env=world[1]), "last.msgpack: truncated or corrupt", "the previous checkpoint (update 100) is intact: mv"
    )
    os.replace(run_dir / "checkpoints" / "previous.msgpack", checkpoint)
    assert cnfrl(*resume, env=world[1]).returncode == 0, line
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [100, 200, 300]


def test_a_damaged_config_json_names_the_file_on_evaluate_and_on_resume(world, tmp_path):
    run_dir = copy_run(world, tmp_path)
    (run_dir / "config.json").write_text('{"algo": "bc", "seed": ')
    one_line_error(cnfrl("evaluate", str(run_dir), env=world[1]), "config.json: not valid JSON")
    resume = ["run", "hopper-random", *TINY_BC, "--set", "loop.updates=300", "--run-dir", str(run_dir), "--resume"]
    one_line_error(cnfrl(*resume, env=world[1]), "config.json: not valid JSON", "--overwrite")


def test_a_garbage_metrics_line_names_the_file_and_line_on_report_and_on_resume(world, tmp_path):
    run_dir = copy_run(world, tmp_path)
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n")
    one_line_error(cnfrl("report", str(run_dir), "--out", str(tmp_path / "report"), env=world[1]), "metrics.jsonl: line 2 is not")
    resume = ["run", "hopper-random", *TINY_BC, "--set", "loop.updates=300", "--run-dir", str(run_dir), "--resume"]
    one_line_error(cnfrl(*resume, env=world[1]), "metrics.jsonl: line 2 is not a metrics record", "delete it")


def test_a_truncated_policy_file_names_itself_on_evaluate(world, tmp_path):
    run_dir = copy_run(world, tmp_path)
    for fmt in ("onnx", "npz"):
        assert cnfrl("export", str(run_dir), "--format", fmt, env=world[1]).returncode == 0
        policy = run_dir / f"policy.{fmt}"
        policy.write_bytes(policy.read_bytes()[:300])
        one_line_error(cnfrl("evaluate", str(run_dir), "--policy", str(policy), env=world[1]), f"policy.{fmt}: not a readable")


def test_a_run_that_failed_before_training_does_not_block_the_corrected_one(world, tmp_path):
    env = world[1]
    source = tmp_path / "hopper.npz"
    assert cnfrl("data", "convert", "hopper-random", str(source), env=env).returncode == 0
    with np.load(source, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**arrays, "actions": arrays["actions"] * 2.0})
    run_dir = tmp_path / "run"
    args = [*TINY_BC, "--set", "loop.updates=100", "--run-dir", str(run_dir)]
    one_line_error(cnfrl("run", str(bad), *args, env=env), "bad.npz")
    shutil.copy(source, bad)
    fixed = cnfrl("run", str(bad), *args, env=env)
    assert fixed.returncode == 0, fixed.stderr


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--resume", "--overwrite"], ["--resume and --overwrite together", "pass one"]),
        (["--set", "loop.updates=1000000000000"], ["loop.updates=1,000,000,000,000: about 18 years", "at most 100,000,000"]),
        (["--algo", "cnf-td3cb"], ["cnf-td3cb: unknown algorithm; did you mean cnf-td3bc?"]),
    ],
)
def test_settings_that_cannot_work_are_one_line_errors_before_anything_loads(extra, fragments, tmp_path):
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tmp_path / "minari"), "CNFRL_CACHE": str(tmp_path / "cache")}
    one_line_error(cnfrl("run", "hopper-random", *extra, "--run-dir", str(tmp_path / "run"), env=env), *fragments)


def test_report_of_a_folder_where_nothing_trained_says_how_to_train_it(tmp_path):
    (tmp_path / "empty").mkdir()
    line = one_line_error(cnfrl("report", str(tmp_path / "empty"), env=dict(os.environ)), "nothing trained there", "cnfrl run")
    assert "cnfrl evaluate" not in line


def test_the_demo_dataset_can_be_named_once_generated(tmp_path):
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tmp_path / "minari"), "CNFRL_CACHE": str(tmp_path / "cache")}
    one_line_error(cnfrl("data", "info", "hopper-medium-demo", env=env), "not generated yet", "make run")
    from cnfrl.collect.recipes import collect_dataset
    from cnfrl.data.builtin import demo_root

    os.environ["CNFRL_CACHE"], saved = str(tmp_path / "cache"), os.environ.get("CNFRL_CACHE")
    try:
        collect_dataset("hopper-medium", steps=300, seed=0, root=demo_root(), show_progress=False)
    finally:
        os.environ.pop("CNFRL_CACHE") if saved is None else os.environ.__setitem__("CNFRL_CACHE", saved)
    info = cnfrl("data", "info", "hopper-medium-demo", "--json", env=env)
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["transitions"] == 300


def test_every_algorithm_is_named_in_the_help_of_run():
    from cnfrl.cli import ALGO_HELP
    from cnfrl.experiments.registry import ALGORITHMS

    assert [name for name in ALGORITHMS if name not in ALGO_HELP] == []


def test_a_ray_task_no_node_can_hold_is_refused_at_once(tmp_path):
    from cnfrl.experiments.ray_grid import RayCluster, train_on_ray

    start = time.monotonic()
    with pytest.raises(CnfrlError, match=r"--task-cpus 64 --task-gpus 0: each task asks for 64 CPUs and 0 GPUs.*this Ray has"):
        train_on_ray([], RayCluster(cpus_per_task=64), "", show_progress=False)
    assert time.monotonic() - start < 120


def test_a_cluster_that_may_grow_says_what_its_tasks_wait_for():
    from cnfrl.experiments.ray_grid import RayCluster, check_resources

    class Cluster:
        @staticmethod
        def nodes():
            return [{"Alive": True, "Resources": {"CPU": 2.0}}, {"Alive": False, "Resources": {"CPU": 64.0}}]

    assert check_resources(Cluster, RayCluster(cpus_per_task=2), started_here=False) is None
    waiting = check_resources(Cluster, RayCluster(cpus_per_task=3), started_here=False)
    assert (
        waiting == "no node has 3 CPUs and 0 GPUs for a task yet (2 CPUs, 0 GPUs): "
        "the tasks wait until the cluster adds one (autoscaling)"
    )
