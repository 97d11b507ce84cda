"""Where cnfrl keeps regenerable artefacts on this machine."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Large regenerable artefacts (flows, replay buffers, demo data): $CNFRL_CACHE or ~/.cache/cnfrl."""
    return Path(os.environ.get("CNFRL_CACHE", Path.home() / ".cache" / "cnfrl"))
