"""Benchmark: environment steps per second of cnfrl's JAX SAC against stable-baselines3's SAC, same task.

Both train on Hopper-v5 with the same networks (256, 256), batch 256, learning rate 3e-4, replay holding
every step, 1,000 random warm-up steps and one gradient update per environment step. SB3 runs twice: with
its defaults (train_freq = gradient_steps = 1) and with the same chunking cnfrl uses (train_freq =
gradient_steps = 50). Compilation and warm-up are inside the timed run for both. cnfrl runs before and
after SB3, so drift of this shared machine shows; the ratio uses the mean of its two rates. Target: >= 3x.

SB3 needs PyTorch, which cnfrl does not depend on; give its interpreter with --sb3-python, e.g. after
    python -m venv .venv-sb3 && .venv-sb3/bin/pip install torch==2.13.0 stable-baselines3 "gymnasium[mujoco]"
Usage: python benchmarks/sac_vs_sb3.py --sb3-python .venv-sb3/bin/python [--out benchmarks/results/sac_vs_sb3.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from tables import write_table

ENV_ID = "Hopper-v5"
WARMUP = 1_000
CHUNK = 50

SB3_SCRIPT = f"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import gymnasium as gym, torch
from stable_baselines3 import SAC
steps, warmup, freq = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
env = gym.make("{ENV_ID}")
model = SAC("MlpPolicy", env, learning_rate=3e-4, buffer_size=steps, learning_starts=warmup, batch_size=256,
            train_freq=freq, gradient_steps=freq, policy_kwargs=dict(net_arch=[256, 256]), seed=0, device="cpu")
start = time.perf_counter()
model.learn(total_timesteps=steps)
print(json.dumps({{"seconds": time.perf_counter() - start, "torch": torch.__version__, "threads": torch.get_num_threads()}}))
"""


def run_cnfrl(steps: int) -> float:
    from cnfrl.collect.sac import SACConfig, train_sac

    config = SACConfig(learning_starts=WARMUP, update_every=CHUNK, eval_every=10**12)
    start = time.perf_counter()
    train_sac(ENV_ID, steps, seed=0, config=config, show_progress=False)
    return time.perf_counter() - start


def run_sb3(python: str, steps: int, freq: int) -> dict:
    result = subprocess.run(
        [python, "-c", SB3_SCRIPT, str(steps), str(WARMUP), str(freq)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sb3-python", required=True, help="Interpreter with torch and stable-baselines3.")
    parser.add_argument("--cnfrl-steps", type=int, default=30_000)
    parser.add_argument("--sb3-steps", type=int, default=8_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    ours_name = "cnfrl SAC (JAX, scanned chunks of 50)"
    rows = [(f"{ours_name}, before SB3", args.cnfrl_steps, run_cnfrl(args.cnfrl_steps))]
    for freq in (1, CHUNK):
        sb3 = run_sb3(args.sb3_python, args.sb3_steps, freq)
        rows.append(
            (
                f"SB3 SAC (torch {sb3['torch']}, {sb3['threads']} threads, train_freq=gradient_steps={freq})",
                args.sb3_steps,
                sb3["seconds"],
            )
        )
    rows.append((f"{ours_name}, after SB3", args.cnfrl_steps, run_cnfrl(args.cnfrl_steps)))
    ours = (rows[0][1] / rows[0][2] + rows[-1][1] / rows[-1][2]) / 2
    write_table(
        f"SAC environment steps per second on {ENV_ID}, CPU only",
        f"python benchmarks/sac_vs_sb3.py --sb3-python .venv-sb3/bin/python --cnfrl-steps {args.cnfrl_steps} "
        f"--sb3-steps {args.sb3_steps}",
        ["trainer", "env steps", "seconds", "steps/s", "cnfrl / this"],
        [
            [name, f"{steps:,}", f"{seconds:.1f}", f"{steps / seconds:.0f}", f"{ours / (steps / seconds):.2f}x"]
            for name, steps, seconds in rows
        ],
        args.out,
        f"Ratio column: the mean of cnfrl's two rates ({ours:.0f} steps/s) over each row's. Target: cnfrl at least 3x SB3.",
    )


if __name__ == "__main__":
    main()
