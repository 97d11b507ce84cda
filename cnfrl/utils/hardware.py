"""What the computation ran on, in words, for every table that reports a score or a speed."""

from __future__ import annotations

import os
import platform

import jax

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def single_thread_xla_flags() -> str:
    """XLA_FLAGS for a JAX process kept on one CPU thread (this environment's own flags kept): for several
    trainings sharing a machine's cores, where multi-threaded ones over-subscribe them and each runs about 5x
    slower on two cores."""
    return f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()


def describe_hardware() -> str:
    """The accelerator JAX uses (its model for a GPU), or the CPU with its core count."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"CPU ({os.cpu_count()} cores, {platform.machine()})"
    return f"{device.platform.upper()} {getattr(device, 'device_kind', '')}".strip()
