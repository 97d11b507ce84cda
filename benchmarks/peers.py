"""Benchmark: d3rlpy's IQL, TD3+BC and PLAS on the datasets cnfrl trains on, scored by cnfrl's own evaluation and
reported by `cnfrl report` beside cnfrl's runs.

d3rlpy (PyTorch) is a peer, not a dependency of cnfrl: it runs in its own interpreter, given with --peer-python
(`make bench-peers` creates .venv-peers with d3rlpy 2.8.1). This process loads each dataset with cnfrl, so the
peers see the transitions cnfrl's runs see, and hands it over once as NPZ; the peer trains and saves its greedy
policy as ONNX every --eval-every updates; this process evaluates each saved policy as `cnfrl train` evaluates
its own (same environment, episodes and seeds) and writes the peer's run as a run directory a report reads
(OUT/runs/DATASET-d3rlpy-ALGO-sSEED: eval.json, metrics.jsonl), so the rows share a table with cnfrl's: the report
is `cnfrl report OUT/runs/* CNFRL_RUN_DIRS... --at UPDATES`, which this script also writes to OUT with --with.
A peer run whose eval.json exists is kept, so the benchmark resumes.
Usage: python benchmarks/peers.py --peer-python PYTHON [--datasets hopper-medium ...] [--algos iql td3+bc plas]
       [--seeds 0 1 2] [--updates 20000] [--eval-every 5000] [--episodes 10] [--out bench/peers]
       [--with bench/td3bc-iql/runs/*]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cnfrl.experiments.pipeline import load_run_data
from cnfrl.experiments.report import write_grid_report
from cnfrl.experiments.runs import build_config
from cnfrl.utils.hardware import describe_hardware

PEER_SCRIPT = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import functools, d3rlpy, numpy as np, torch
torch.onnx.export = functools.partial(torch.onnx.export, dynamo=False)  # d3rlpy exports a TorchScript function
data_path, algo, out = sys.argv[1], sys.argv[2], sys.argv[3]
seed, updates, every, warmup = (int(x) for x in sys.argv[4:8])
d3rlpy.seed(seed)
data = np.load(data_path)
dataset = d3rlpy.dataset.MDPDataset(
    data["observations"], data["actions"], data["rewards"], data["terminals"], timeouts=data["timeouts"],
    action_space=d3rlpy.ActionSpace.CONTINUOUS,
)
hidden = d3rlpy.models.VectorEncoderFactory([256, 256])
scaler = d3rlpy.preprocessing.StandardObservationScaler()
configs = {
    "iql": lambda: d3rlpy.algos.IQLConfig(
        actor_encoder_factory=hidden, critic_encoder_factory=hidden, value_encoder_factory=hidden, batch_size=256,
        actor_learning_rate=3e-4, critic_learning_rate=3e-4, expectile=0.7, weight_temp=3.0, max_weight=100.0,
        reward_scaler=d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=1000.0), observation_scaler=scaler,
    ),
    "td3+bc": lambda: d3rlpy.algos.TD3PlusBCConfig(
        actor_encoder_factory=hidden, critic_encoder_factory=hidden, batch_size=256, actor_learning_rate=3e-4,
        critic_learning_rate=3e-4, target_smoothing_sigma=0.2, target_smoothing_clip=0.5, alpha=2.5,
        update_actor_interval=2, observation_scaler=scaler,
    ),
    "plas": lambda: d3rlpy.algos.PLASConfig(
        actor_encoder_factory=hidden, critic_encoder_factory=hidden,
        imitator_encoder_factory=d3rlpy.models.VectorEncoderFactory([750, 750]), batch_size=100,
        actor_learning_rate=1e-4, critic_learning_rate=1e-3, imitator_learning_rate=1e-4, lam=1.0,
        warmup_steps=warmup,
    ),
}
agent = configs[algo]().create(device="cpu:0")
warmup = warmup if algo == "plas" else 0
epochs, steps, start = [], [], time.perf_counter()
fitter = agent.fitter(
    dataset, n_steps=warmup + updates, n_steps_per_epoch=every, show_progress=False, save_interval=10**9,
    logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
)
for epoch, _ in fitter:
    epochs.append(time.perf_counter() - start)
    step = epoch * every - warmup
    if step > 0:
        agent.save_policy(f"{out}/{step}.onnx")
        steps.append(step)
    start = time.perf_counter()
print(json.dumps({"steps": steps, "epoch_seconds": epochs, "every": every, "warmup": warmup, "d3rlpy": d3rlpy.__version__,
                  "torch": torch.__version__, "threads": torch.get_num_threads()}))
"""


def write_dataset(transitions, path: Path) -> None:
    """The transitions as d3rlpy's MDPDataset takes them: every episode ends in a terminal or a timeout."""
    np.savez(
        path,
        observations=transitions.observations,
        actions=transitions.actions,
        rewards=transitions.rewards,
        terminals=transitions.terminals,
        timeouts=transitions.episode_ends & ~transitions.terminals,
    )


def onnx_policy(path: Path):
    """A batched policy (observations in, actions out) from a d3rlpy ONNX file, whose batch is fixed at 1."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    row = lambda observation: session.run(None, {name: observation[None].astype(np.float32)})[0][0]
    return lambda observations: np.stack([row(o) for o in observations])


def run_peer(python: str, algo: str, seed: int, data, data_path: Path, out: Path, args: argparse.Namespace) -> dict:
    """Train one peer in its interpreter on the NPZ at `data_path`, then evaluate the policies it saved in `out`:
    one evaluation summary per saved step, and the peer's versions and update rate."""
    from cnfrl.envs.evaluate import evaluate
    from cnfrl.experiments.pipeline import EVAL_SEED

    out.mkdir()
    settings = [str(x) for x in (seed, args.updates, args.eval_every, args.plas_warmup)]
    result = subprocess.run(
        [python, "-c", PEER_SCRIPT, str(data_path), algo, str(out), *settings], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"d3rlpy {algo} on {data.env_id} failed:\n{result.stderr[-3000:]}")
    peer = json.loads(result.stdout.strip().splitlines()[-1])
    evaluations = [
        evaluate(onnx_policy(out / f"{step}.onnx"), data.env_id, args.episodes, EVAL_SEED, data.references).summary()
        for step in peer["steps"]
    ]
    actor_critic = peer["epoch_seconds"][max(1, peer["warmup"] // peer["every"]) :]
    rate = peer["every"] * len(actor_critic) / sum(actor_critic)
    return {**peer, "evaluations": evaluations, "rate": rate}


def write_run(run_dir: Path, algo: str, dataset: str, seed: int, data, peer: dict, episodes: int) -> None:
    """A peer's run as a run directory `cnfrl report` reads: its evaluations in metrics.jsonl, the last in eval.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    records = [
        {"step": step, **{f"eval_{key}": value for key, value in summary.items()}}
        for step, summary in zip(peer["steps"], peer["evaluations"], strict=True)
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    summary = {
        "algo": f"d3rlpy-{algo}",
        "dataset": dataset,
        "env_id": data.env_id,
        "preset": f"d3rlpy {peer['d3rlpy']} (torch {peer['torch']}, {peer['threads']} threads)",
        "seed": seed,
        "updates": peer["steps"][-1],
        "eval_episodes": episodes,
        "hardware": describe_hardware(),
        "final": peer["evaluations"][-1],
        "updates_per_second": peer["rate"],
        "dataset_score_mean": data.references.score(float(np.mean(data.transitions.episode_returns()))),
    }
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", required=True, help="an interpreter with d3rlpy (make bench-peers makes .venv-peers)")
    parser.add_argument("--datasets", nargs="+", default=["hopper-medium"])
    parser.add_argument("--algos", nargs="+", default=["iql", "td3+bc", "plas"], choices=["iql", "td3+bc", "plas"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--plas-warmup", type=int, default=10_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/peers"))
    parser.add_argument(
        "--with", dest="with_runs", nargs="*", type=Path, default=[], help="cnfrl run directories to report beside"
    )
    args = parser.parse_args()
    for dataset in args.datasets:
        data = load_run_data(build_config("bc", "cpu-quick", dataset), show_progress=False)
        with tempfile.TemporaryDirectory() as tmp:
            write_dataset(data.transitions, Path(tmp) / "data.npz")
            for algo in args.algos:
                for seed in args.seeds:
                    run_dir = args.out / "runs" / f"{dataset}-d3rlpy-{algo}-s{seed}"
                    if (run_dir / "eval.json").is_file():
                        continue
                    peer = run_peer(
                        args.peer_python, algo, seed, data, Path(tmp) / "data.npz", Path(tmp) / f"{algo}-{seed}", args
                    )
                    write_run(run_dir, algo, dataset, seed, data, peer, args.episodes)
                    print(f"d3rlpy {algo} on {dataset}, seed {seed}: {peer['rate']:.0f} updates/s", flush=True)
    runs = sorted((args.out / "runs").glob("*/eval.json"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    provenance = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit or "not in a git checkout",
        "command": "python benchmarks/peers.py " + " ".join(sys.argv[1:]),
    }
    report = write_grid_report(
        [run.parent for run in runs] + list(args.with_runs), args.out, budgets=[args.updates], provenance=provenance
    )
    print(f"report: {report}")


if __name__ == "__main__":
    main()
