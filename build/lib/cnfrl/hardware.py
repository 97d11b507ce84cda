"""What the computation ran on, in words, for every table that reports a score or a speed."""

from __future__ import annotations

import os
import platform

import jax

# XLA flags that keep a JAX process on one CPU thread: for several trainings sharing a machine's cores (several
# multi-threaded ones on the same cores over-subscribe them, each running about 5x slower on two cores).
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def describe_hardware() -> str:
    """The accelerator JAX uses (its model for a GPU), or the CPU with its core count."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"CPU ({os.cpu_count()} cores, {platform.machine()})"
    return f"{device.platform.upper()} {getattr(device, 'device_kind', '')}".strip()
