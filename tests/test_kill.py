"""kill -9 at random points of collection, pre-training and training, several times each, then the same command
again (with --resume for training): every output equals an uninterrupted run's, and no partial file is left."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from cnfrl.data.resolve import load_dataset
from cnfrl.training.checkpoints import CHECKPOINT
from cnfrl.utils.params import load_params

TINY = [
    *("--set", "flow.blocks=2", "--set", "flow.hidden=16", "--set", "pretrain.batch_size=128"),
    *("--set", "agent.actor_hidden=[16,16]", "--set", "agent.critic_hidden=[16,16]", "--set", "loop.batch_size=32"),
    *("--set", "eval_episodes=1"),
]
KILLS = 3


def command(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cnfrl.cli import main; main()", *args]


def environment(root: Path) -> dict[str, str]:
    """The commands' environment, without the session's compilation cache: the kill moments are drawn from an
    uninterrupted run's times, which a cache filled by that run would make too long for the runs that follow."""
    inherited = {name: value for name, value in os.environ.items() if name != "JAX_COMPILATION_CACHE_DIR"}
    return {**inherited, "MINARI_DATASETS_PATH": str(root / "minari"), "CNFRL_CACHE": str(root / "cache")}


def finish(args: list[str], env: dict[str, str]) -> float:
    """Run to the end; the seconds it took."""
    start = time.monotonic()
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - start


def kill_when(args: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 120.0) -> bool:
    """Start the command and SIGKILL it once `ready()` holds; False if it ended first."""
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    process.wait()
    return False


def kill_before(
    args: list[str],
    env: dict[str, str],
    draw: Callable[[], Callable[[], bool]],
    output: Path,
    landed: Callable[[], bool] = lambda: True,
    attempts: int = 5,
) -> bool:
    """`kill_when` at a moment from `draw()`. Where the run ended first, or the kill did not land where
    `landed()` says it should, the run's output is removed and it starts again at a new moment, up to `attempts`
    times: a run can be faster than the uninterrupted one its moments were drawn from (that one paid for cold
    imports, or ran beside a heavier test), and a dataset's writing can be over between two polls."""
    for _ in range(attempts):
        if kill_when(args, env, draw()) and landed():
            return True
        assert output.is_dir(), f"the run ended without writing {output}"
        shutil.rmtree(output)
    return False


def after(seconds: float) -> Callable[[], bool]:
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


def leftovers(*folders: Path) -> list[str]:
    """Temporary files or folders (dot-named) anywhere under the folders: what a killed writer could leave."""
    return [str(path) for folder in folders if folder.exists() for path in folder.rglob(".*")]


def test_collection_killed_at_random_points_then_run_again_equals_an_uninterrupted_one(tmp_path):
    """Kills at random times before the dataset is written, and one while it is being written (its staging
    folder exists): the next run writes the whole dataset, equal to an uninterrupted run's, and clears the rest.
    The last kill can land just after the staging folder was moved into place (the dataset is then whole), so
    the next run is told that an existing dataset is fine (--exist-ok)."""
    rng = random.Random(0)
    collect = command("collect", "hopper-random", "--steps", "10000")
    took = finish(collect, environment(tmp_path / "straight"))
    env = environment(tmp_path / "killed")
    minari = tmp_path / "killed/minari"
    writing = lambda: any(minari.glob(".cnfrl-minari-*/*/*/*/data"))
    dataset = minari / "cnfrl/hopper/random-v0"
    moments = [lambda: after(rng.uniform(0.2, 0.7) * took) for _ in range(KILLS - 1)]
    kills = sum(kill_before(collect, env, draw, dataset) for draw in [*moments, lambda: writing])
    finish([*collect, "--exist-ok"], env)
    assert kills == KILLS
    straight = load_dataset(tmp_path / "straight/minari/cnfrl/hopper/random-v0")
    killed = load_dataset(minari / "cnfrl/hopper/random-v0")
    for name in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
        np.testing.assert_array_equal(getattr(killed, name), getattr(straight, name))
    assert leftovers(tmp_path / "killed") == []


def test_pre_training_and_training_killed_at_random_points_then_resumed_equal_an_uninterrupted_run(tmp_path):
    """`cnfrl train` killed once at a random moment of its flow's pre-training and twice after a random number
    of logged chunks (mid-training, between or during checkpoints), resumed each time: the flow, the checkpoint
    and the metrics equal an uninterrupted run's, and no partial file is left in the run or the model cache."""
    rng = random.Random(2)
    finish(command("collect", "hopper-random", "--steps", "2000"), environment(tmp_path))
    loop = ["--set", "pretrain.epochs=5", "--set", "loop.updates=600", "--set", "loop.chunk=50", "--set", "loop.eval_every=100"]
    train = command("train", "hopper-random", *TINY, *loop)
    straight, run_dir = tmp_path / "straight", tmp_path / "killed"
    metrics = run_dir / "metrics.jsonl"
    env = {**environment(tmp_path), "CNFRL_CACHE": str(run_dir / "cache")}
    pre_training = finish_watching(
        [*train, "--run-dir", str(straight)], {**env, "CNFRL_CACHE": str(straight / "cache")}, straight / "metrics.jsonl"
    )
    logged = lambda: len(metrics.read_text().splitlines()) if metrics.is_file() else 0
    in_pre_training = lambda: after(rng.uniform(0.4, 0.95) * pre_training)
    kills = [kill_before([*train, "--run-dir", str(run_dir)], env, in_pre_training, run_dir, lambda: logged() == 0)]
    for _ in range(KILLS - 1):
        target = logged() + rng.randint(1, 4)
        kills.append(kill_when([*train, "--run-dir", str(run_dir), "--resume"], env, lambda target=target: logged() >= target))
    finish([*train, "--run-dir", str(run_dir), "--resume"], env)
    assert all(kills)
    assert (run_dir / CHECKPOINT).read_bytes() == (straight / CHECKPOINT).read_bytes()
    assert metrics.read_text() == (straight / "metrics.jsonl").read_text()
    models = [jax.tree.leaves(load_params(folder / "model/model.npz")) for folder in (straight, run_dir)]
    for a, b in zip(*models, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert leftovers(run_dir) == []


def finish_watching(args: list[str], env: dict[str, str], path: Path) -> float:
    """Run to the end; the seconds until `path` appeared."""
    start = time.monotonic()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    appeared = None
    while process.poll() is None:
        if appeared is None and path.exists():
            appeared = time.monotonic() - start
        time.sleep(0.01)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    assert appeared is not None
    return appeared
