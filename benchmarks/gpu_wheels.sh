#!/usr/bin/env bash
# Download, here, the py3.12 wheels that benchmarks/gpu_check.sh installs on a GPU machine whose image has JAX
# with CUDA, Flax, Optax, h5py, matplotlib, pandas, scipy, seaborn, statsmodels and PyYAML but not the rest of
# cnfrl's dependencies (its Typer and Rich are not the pinned ones: cnfrl's CLI failed with them on the H200
# image, 2026-11-29). Versions are the pins of constraints.txt; about 44 MiB, of the 64 MiB a device call may
# carry. They go to .whl/ (git-ignored through .git/info/exclude); carry `.whl` with the device call.
# Usage (from the repository root): bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
packages=(gymnasium Farama-Notifications mujoco mujoco-core glfw PyOpenGL tensorboardX minari cloudpickle
  gymnasium-robotics pettingzoo typer shellingham rich pydantic pydantic_core annotated-types typing-inspection)
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$tag")
done
for name in "${packages[@]}"; do
  pin=$(grep -i "^${name}==" constraints.txt)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d .whl "$pin"
done
du -sh .whl
