"""Benchmark: d3rlpy's IQL, TD3+BC and PLAS on the datasets cnfrl trains on, scored by cnfrl's own evaluation.

d3rlpy (PyTorch) is a peer, not a dependency of cnfrl: it runs in its own interpreter, given with --peer-python
(`make bench-peers` creates .venv-peers with d3rlpy 2.8.1). This process loads each dataset with cnfrl, so the
peers see the transitions cnfrl's runs see, and hands it over once as NPZ; the peer trains and saves its greedy
policy as ONNX every --eval-every updates; this process evaluates each saved policy as `cnfrl train` evaluates
its own (same environment, episodes and seeds), so the rows share a table with cnfrl's. With --with, the
stability benchmark's curves (benchmarks/stability.py, same evaluation), cut at --updates, join the table as cnfrl's rows.
Peer settings are d3rlpy's D4RL reproduction scripts' at cnfrl's cpu-quick sizes: two hidden layers of 256 and
batch 256 (PLAS: d3rlpy's batch 100 and VAE of 750 x 750, and --plas-warmup VAE-only updates before its --updates
actor-critic updates, where d3rlpy's script warms up for 500k). Updates/s is the peer's actor-critic training rate,
without its first --eval-every updates (which also fit its scalers and build its networks) and PLAS's VAE warm-up,
policy saving excluded.
Usage: python benchmarks/peers.py --peer-python .venv-peers/bin/python [--datasets hopper-medium]
       [--algos iql td3+bc plas] [--seeds 0] [--updates 50000] [--eval-every 5000] [--episodes 10]
       [--with benchmarks/results/stability_cpu.json] [--out benchmarks/results/peers_cpu.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from stability import LAST, summary_rows
from tables import write_table

from cnfrl.experiments.pipeline import load_run_data
from cnfrl.experiments.registry import preset

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
    the stability benchmark's curve format."""
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
    scores = [
        evaluate(onnx_policy(out / f"{step}.onnx"), data.env_id, args.episodes, EVAL_SEED, data.references).summary()[
            "score_mean"
        ]
        for step in peer["steps"]
    ]
    actor_critic = peer["epoch_seconds"][max(1, peer["warmup"] // peer["every"]) :]
    rate = peer["every"] * len(actor_critic) / sum(actor_critic)
    return {**peer, "scores": scores, "rate": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", required=True, help="an interpreter with d3rlpy (make bench-peers makes .venv-peers)")
    parser.add_argument("--datasets", nargs="+", default=["hopper-medium"])
    parser.add_argument("--algos", nargs="+", default=["iql", "td3+bc", "plas"], choices=["iql", "td3+bc", "plas"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--plas-warmup", type=int, default=10_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--with", dest="cnfrl_curves", type=Path, default=None, help="stability benchmark JSON: cnfrl's rows")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results: dict = {}
    speeds: dict = {}
    for dataset in args.datasets:
        data = load_run_data(dataclasses.replace(preset("cpu-quick", "bc"), dataset=dataset), show_progress=False)
        dataset_score = data.references.score(float(np.mean(data.transitions.episode_returns())))
        with tempfile.TemporaryDirectory() as tmp:
            write_dataset(data.transitions, Path(tmp) / "data.npz")
            for algo in args.algos:
                for seed in args.seeds:
                    curve = run_peer(
                        args.peer_python, algo, seed, data, Path(tmp) / "data.npz", Path(tmp) / f"{algo}-{seed}", args
                    )
                    print(
                        f"d3rlpy {algo} on {dataset}, seed {seed}: last {LAST} {np.mean(curve['scores'][-LAST:]):.1f}, "
                        f"{curve['rate']:.0f} updates/s",
                        flush=True,
                    )
                    results.setdefault((dataset, f"d3rlpy {algo}"), []).append({**curve, "dataset_score": dataset_score})
                    speeds.setdefault(f"d3rlpy {algo}", []).append(curve["rate"])
    rows = [f"d3rlpy {algo}" for algo in args.algos]
    if args.cnfrl_curves is not None:
        for curve in json.loads(args.cnfrl_curves.read_text()):
            if curve["dataset"] in args.datasets and args.updates in curve["steps"]:
                cut = curve["steps"].index(args.updates) + 1
                curve = {**curve, "steps": curve["steps"][:cut], "scores": curve["scores"][:cut]}
                results.setdefault((curve["dataset"], f"cnfrl {curve['row']}"), []).append(curve)
        rows += sorted({row for (_, row) in results if row.startswith("cnfrl ")})
    table = summary_rows(results, args.datasets, rows)
    for line in table[:-1]:
        line.append(f"{np.mean(speeds[line[0]]):.0f}" if line[0] in speeds else "-")
    table[-1].append("")
    peer = next(iter(results.values()))[0]
    command = (
        f"python benchmarks/peers.py --peer-python PYTHON --datasets {' '.join(args.datasets)} --algos {' '.join(args.algos)} "
        f"--seeds {' '.join(map(str, args.seeds))} --updates {args.updates} --eval-every {args.eval_every} "
        f"--plas-warmup {args.plas_warmup} --episodes {args.episodes}"
        + (f" --with {args.cnfrl_curves}" if args.cnfrl_curves else "")
    )
    header = ["row"] + [x for d in args.datasets for x in (f"{d} last {LAST}", "spread")] + ["peer updates/s"]
    notes = (
        f"Peers: d3rlpy {peer.get('d3rlpy', '?')}, PyTorch {peer.get('torch', '?')} ({peer.get('threads', '?')} threads), "
        f"trained by d3rlpy and evaluated by cnfrl ({args.episodes} episodes every {args.eval_every} updates). 'last {LAST}': "
        f"the mean of the last {LAST} evaluations of a run, then mean +- std over seeds; 'spread': max - min of those "
        f"{LAST}, averaged over seeds. cnfrl's rows are the stability benchmark's runs, their "
        f"evaluations up to update {args.updates} (the same schedule, so the same as runs of that length); cnfrl's update "
        "rates are in benchmarks/results/algo_speed_cpu.md."
    )
    write_table("Peers: d3rlpy beside cnfrl on the same datasets", command, header, table, args.out, notes)


if __name__ == "__main__":
    main()
