"""The `cnfrl` command: data info, convert, collect, and one-line errors without tracebacks."""

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import episode_arrays, write_d4rl_layout

from cnfrl import load_dataset
from cnfrl.errors import CnfrlError
from cnfrl.experiments.pipeline import train_stage
from cnfrl.experiments.registry import load_config


def cnfrl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from cnfrl.cli import main; main()", *args], capture_output=True, text=True)


def test_data_info_reports_the_summary(tmp_path: Path):
    arrays = episode_arrays([10, 5], ["timeout", "terminal"])
    arrays["next_observations"] = np.roll(arrays["observations"], -1, axis=0)
    path = write_d4rl_layout(tmp_path / "hopper-medium-v2.hdf5", arrays)
    result = cnfrl("data", "info", str(path), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["transitions"] == 15 and summary["episodes"] == 2
    assert (summary["terminals"], summary["timeouts"]) == (1, 1)
    assert (summary["observation_dim"], summary["action_dim"]) == (11, 3)
    returns = [arrays["rewards"][:10].sum(dtype=np.float64), arrays["rewards"][10:].sum(dtype=np.float64)]
    assert summary["return_mean"] == pytest.approx(np.mean(returns), rel=1e-6)
    assert summary["return_min"] == pytest.approx(min(returns), rel=1e-6)
    assert summary["ref_max_score"] == 3234.3 and summary["reference_origin"] == "D4RL (hopper)"
    table = cnfrl("data", "info", str(path))
    assert table.returncode == 0 and "normalized_return_mean" in table.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["data", "info", "missing.hdf5"], "missing.hdf5: no such file"),
        (["data", "info", "hopper-expert"], "run `cnfrl collect hopper-expert` first"),
        (["collect", "ant-expert", "--steps", "10"], "no trained behaviour policy"),
        (["collect", "pendulum-random"], "not a built-in dataset name"),
    ],
)
def test_errors_are_one_line_without_traceback(args, message, tmp_path, monkeypatch):
    monkeypatch.setenv("CNFRL_POLICY_DIR", str(tmp_path / "no-policies"))
    result = cnfrl(*args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_convert_and_collect(tmp_path: Path, minari_path: Path):
    result = cnfrl("collect", "hopper-random", "--steps", "120", "--seed", "3")
    assert result.returncode == 0, result.stderr
    again = cnfrl("collect", "hopper-random", "--steps", "120", "--exist-ok")
    assert again.returncode == 0 and "keeping it" in again.stdout
    refused = cnfrl("collect", "hopper-random", "--steps", "120")
    assert refused.returncode == 1 and "already exists; pass overwrite=True" in refused.stderr
    out = tmp_path / "hopper.hdf5"
    assert cnfrl("data", "convert", "hopper-random", str(out)).returncode == 0
    assert load_dataset(out).equals(load_dataset("hopper-random"))
    assert cnfrl("data", "convert", str(out), "mine/hopper-v0").returncode == 0
    assert load_dataset("mine/hopper-v0").equals(load_dataset("hopper-random"))


def test_pretrain_train_evaluate_run_chain(tmp_path, minari_path, monkeypatch):
    monkeypatch.setenv("CNFRL_CACHE", str(tmp_path / "cache"))
    assert cnfrl("collect", "hopper-random", "--steps", "400").returncode == 0
    tiny = [
        "--set",
        "flow.blocks=2",
        "--set",
        "flow.hidden=16",
        "--set",
        "pretrain.epochs=2",
        "--set",
        "pretrain.batch_size=128",
        "--set",
        "agent.actor_hidden=[16,16]",
        "--set",
        "agent.critic_hidden=[16,16]",
        "--set",
        "loop.batch_size=32",
        "--set",
        "loop.updates=200",
        "--set",
        "loop.chunk=100",
        "--set",
        "loop.eval_every=100",
        "--set",
        "eval_episodes=2",
    ]
    pre = cnfrl("pretrain", "hopper-random", *tiny)
    assert pre.returncode == 0, pre.stderr
    assert "best epoch" in pre.stdout
    run_dir = tmp_path / "run"
    result = cnfrl("run", "hopper-random", *tiny, "--run-dir", str(run_dir))
    assert result.returncode == 0, result.stderr
    for name in (
        "config.json",
        "model/model.npz",
        "model/metrics.jsonl",
        "checkpoints/last.msgpack",
        "metrics.jsonl",
        "eval.json",
        "report.md",
        "plots/learning_curve.png",
    ):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").iterdir())
    summary = json.loads((run_dir / "eval.json").read_text())
    assert summary["updates"] == 200 and np.isfinite(summary["final"]["score_mean"])
    for fmt in ("npz", "onnx"):
        exported = cnfrl("export", str(run_dir), "--format", fmt)
        assert exported.returncode == 0 and (run_dir / f"policy.{fmt}").is_file(), exported.stderr
        scored = cnfrl("evaluate", str(run_dir), "--policy", str(run_dir / f"policy.{fmt}"))
        assert scored.returncode == 0, scored.stderr
        exported_score = json.loads(scored.stdout.strip().splitlines()[-1])["exported"]["score_mean"]
        assert exported_score == pytest.approx(summary["final"]["score_mean"], abs=1e-3)
    bad_format = cnfrl("export", str(run_dir), "--format", "pt")
    assert bad_format.returncode == 1 and "--format pt: choose onnx or npz" in bad_format.stderr
    group = tmp_path / "group"
    seeds = cnfrl("train", "hopper-random", *tiny, "--seeds", "2", "--run-dir", str(group), "--set", "loop.updates=100")
    assert seeds.returncode == 0 and seeds.stdout.count("trained 100 updates") == 2, seeds.stderr
    assert [load_config(group / f"s{seed}" / "config.json").seed for seed in (0, 1)] == [0, 1]
    more = cnfrl("run", "--seeds", "2", "--run-dir", str(group), "--resume", "--set", "loop.updates=200")
    assert more.returncode == 0, more.stderr
    assert [json.loads((group / f"s{seed}" / "eval.json").read_text())["updates"] for seed in (0, 1)] == [200, 200]
    longer = cnfrl("train", "--run-dir", str(run_dir), "--resume", "--set", "loop.updates=300")
    assert longer.returncode == 0 and "trained 300 updates" in longer.stdout, longer.stderr
    repeated = cnfrl("train", "hopper-random", *tiny, "--run-dir", str(run_dir), "--resume", "--set", "loop.updates=300")
    assert repeated.returncode == 0 and "trained 300 updates" in repeated.stdout, repeated.stderr
    interrupted = tmp_path / "interrupted"
    # Python's Ctrl-C handler set explicitly: a shell's background job (a CI runner's, say) inherits SIGINT ignored
    ctrl_c_enabled = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from cnfrl.cli import main; main()"
    command = [sys.executable, "-c", ctrl_c_enabled, "train", "hopper-random", *tiny]
    process = subprocess.Popen(
        [*command, "--set", "loop.updates=200000", "--run-dir", str(interrupted)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (interrupted / "checkpoints/last.msgpack").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(6):  # Ctrl-C, again after a pause in case one lands where a library briefly holds it
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "the same command plus --resume" in stderr, stderr
    other_seed = cnfrl("train", "--run-dir", str(run_dir), "--resume", "--seed", "7")
    assert (
        other_seed.returncode == 1 and "resuming keeps the run's own settings, not --seed 7 (the run has 0)" in other_seed.stderr
    )
    shorter = cnfrl("train", "--run-dir", str(run_dir), "--resume", "--set", "loop.updates=100")
    assert shorter.returncode == 1 and "has trained 300 updates already; a resume can only extend it" in shorter.stderr
    assert load_config(run_dir / "config.json").loop.updates == 300
    kept = cnfrl("run", "hopper-random", *tiny, "--run-dir", str(run_dir))
    assert kept.returncode == 1 and "holds a run already; pass --resume to continue it, --overwrite to replace it" in kept.stderr
    assert json.loads((run_dir / "eval.json").read_text())["updates"] == 200
    changed = cnfrl("train", "--run-dir", str(run_dir), "--resume", "--set", "agent.actor_lr=0.001")
    assert changed.returncode == 1 and "a resumed run keeps its saved settings" in changed.stderr
    saved = load_config(run_dir / "config.json")
    with pytest.raises(CnfrlError, match=r"\(agent differ from its config.json\)"):
        train_stage(dataclasses.replace(saved, agent=dataclasses.replace(saved.agent, actor_lr=1e-3)), run_dir, resume=True)
    again = cnfrl("evaluate", str(run_dir), "--episodes", "1")
    assert again.returncode == 0 and "BC through the flow" in again.stdout
    assert json.loads((run_dir / "eval.json").read_text())["updates"] == 300
    bad = cnfrl("run", "hopper-random", "--set", "agent.nothing=1")
    assert bad.returncode == 1 and "unknown setting 'nothing'" in bad.stderr
    unknown = cnfrl("train", "hopper-random", "--preset", "huge")
    assert unknown.returncode == 1 and "huge: unknown preset; choose one of paper, cpu-quick" in unknown.stderr
    no_algo = cnfrl("train", "hopper-random", "--algo", "sac")
    assert (
        no_algo.returncode == 1
        and "sac: unknown algorithm; choose one of cnf, cnf-steady, cnf-td3bc, plas, lapo, td3bc, iql, bc" in no_algo.stderr
    )
    no_model = cnfrl("pretrain", "hopper-random", "--algo", "bc")
    assert no_model.returncode == 1 and "bc pre-trains no action model" in no_model.stderr


def test_help_shows_flags_without_a_type():
    result = cnfrl("train", "--help")
    assert result.returncode == 0 and "--resume" in result.stdout and "<bool>" not in result.stdout


def test_halfcheetah_prints_no_mujoco_warning_and_leaves_no_log(tmp_path: Path):
    script = "from cnfrl.envs.make import make_env; env = make_env('HalfCheetah-v5'); env.reset(seed=0)"
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0 and "settotalmass" not in result.stderr + result.stdout, result.stderr
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_algos_lists_the_registry():
    result = cnfrl("algos")
    assert result.returncode == 0
    for name in (
        "cnf",
        "cnf-steady",
        "cnf-td3bc",
        "plas",
        "lapo",
        "bc-flow",
        "cnf-normal-unbounded",
        "cnf-vae",
        "cnf-plas-objective",
    ):
        assert name in result.stdout
    page = cnfrl("algos", "--markdown")
    docs = Path(__file__).parent.parent / "docs" / "algorithms.md"
    assert page.stdout == docs.read_text(), "docs/algorithms.md is stale: cnfrl algos --markdown > docs/algorithms.md"


def test_file_system_errors_are_one_line(monkeypatch, capsys, tmp_path):
    """A full disk (or a read-only path) while writing is a one-line message naming the path, not a traceback."""
    import cnfrl.data
    from cnfrl import cli

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "out.npz"))

    path = write_d4rl_layout(tmp_path / "in.hdf5", episode_arrays([10], ["timeout"]))
    monkeypatch.setattr(cnfrl.data, "save_dataset", no_space)
    monkeypatch.setattr(sys, "argv", ["cnfrl", "data", "convert", str(path), str(tmp_path / "out.npz"), "--env", "Hopper-v5"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "out.npz: No space left on device; check that the path exists, is writable and has free space" in err
    assert "Traceback" not in err


def test_a_d4rl_file_trains_with_env_and_without_it_the_error_says_how(tmp_path: Path):
    from cnfrl.experiments.pipeline import load_run_data
    from cnfrl.experiments.registry import preset

    arrays = episode_arrays([10, 5], ["timeout", "terminal"])
    arrays["next_observations"] = np.roll(arrays["observations"], -1, axis=0)
    path = str(write_d4rl_layout(tmp_path / "hopper_medium-v2.hdf5", arrays))
    config = dataclasses.replace(preset("cpu-quick", "bc"), dataset=path)
    with pytest.raises(CnfrlError, match=f"names no environment to evaluate in; run it as: cnfrl run {path} --env Hopper-v5"):
        load_run_data(config)
    assert load_run_data(dataclasses.replace(config, env="Hopper-v5")).env_id == "Hopper-v5"
    unknown = cnfrl("data", "convert", path, str(tmp_path / "out.npz"), "--env", "Hoper-v5")
    assert unknown.returncode == 1 and "Hoper-v5: is not a registered Gymnasium environment" in unknown.stderr
    assert "--env" in cnfrl("train", "--help").stdout
