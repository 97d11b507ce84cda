"""What the computation ran on, in words, for every table that reports a score or a speed."""

from __future__ import annotations

import os
import platform

import jax


def describe_hardware() -> str:
    """The accelerator JAX uses (its model for a GPU), or the CPU with its core count."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return f"CPU ({os.cpu_count()} cores, {platform.machine()})"
    return f"{device.platform.upper()} {getattr(device, 'device_kind', '')}".strip()
