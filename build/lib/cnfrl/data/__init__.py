"""Datasets: the Transitions container, readers and writers for D4RL HDF5, Minari and NPZ, one resolver."""

from cnfrl.data.d4rl import write_d4rl
from cnfrl.data.minari import write_minari
from cnfrl.data.npz import write_npz
from cnfrl.data.resolve import load_dataset, resolve_source, save_dataset
from cnfrl.data.transitions import NormalizationStats, Transitions

__all__ = [
    "NormalizationStats",
    "Transitions",
    "load_dataset",
    "resolve_source",
    "save_dataset",
    "write_d4rl",
    "write_minari",
    "write_npz",
]
