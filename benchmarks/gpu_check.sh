#!/usr/bin/env bash
# Issue 13's GPU figures in one call (about 8 min on one H200, 2026-11-29: benchmarks/results/gpu_h200/): updates/s
# of the CNF update at `paper` for one seed and 5 vmapped seeds beside the plain-JAX roof, flow pre-training
# samples/s, then a small quality grid through `cnfrl bench` (cnf and bc; generated hopper-medium and
# halfcheetah-medium of 100k steps; 3 seeds; 20k updates at `paper`, flow 10 epochs, 10 episodes every 5k updates)
# with its report.
# Needs python3 with JAX (CUDA), Flax and Optax; the other dependencies come from .whl/ when present (download
# them here with benchmarks/gpu_wheels.sh and carry `.whl`).
# Usage (from the repository root): bash benchmarks/gpu_check.sh [OUT_DIR]   (default: $OUT, else gpu_check)
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-${OUT:-gpu_check}}")
mkdir -p "$out"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
export PYTHONUNBUFFERED=1 MINARI_DATASETS_PATH="$out/data" CNFRL_CACHE="$out/cache"
cnfrl() { python3 -c "from cnfrl.cli import main; main()" "$@"; }
python3 -c "import jax; print('devices:', jax.devices())"
start=$SECONDS
(cd benchmarks && python3 cnf_speed.py --updates 2000 --seeds 5 --presets paper --algos cnf --out "$out/speed.md")
echo "speed: $((SECONDS - start)) s"
for dataset in hopper-medium halfcheetah-medium; do
  cnfrl collect "$dataset" --steps 100000 --exist-ok > /dev/null
done
echo "datasets: $((SECONDS - start)) s"
cnfrl bench --algo cnf --algo bc --dataset hopper-medium --dataset halfcheetah-medium --seeds 3 --preset paper \
  --set loop.updates=20000 --set loop.eval_every=5000 --set pretrain.epochs=10 --set eval_episodes=10 \
  --out "$out/grid" | tee "$out/grid.txt"
cp "$out/grid/report.md" "$out/grid/scores.csv" "$out/" 2>/dev/null || true
echo "total: $((SECONDS - start)) s"
