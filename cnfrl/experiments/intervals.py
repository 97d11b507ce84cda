"""Aggregates over datasets with stratified-bootstrap confidence intervals, rliable's method (Agarwal et al.,
2021): seeds resampled with replacement within each dataset, datasets kept, the interval read off the
bootstrap's percentiles.

The resamples are drawn as rliable.library.get_interval_estimates draws them from a generator seeded the same,
so the intervals are rliable's (a test compares them), but all at once in NumPy: rliable calls the aggregate once
per resample in Python, about 6 s per algorithm (29.5 s for five on 3 seeds x 9 datasets, against 0.22 s here:
benchmarks/intervals_speed.py)."""

from __future__ import annotations

import numpy as np

BOOTSTRAP_REPS = 50_000
CONFIDENCE = 0.95
AGGREGATES = ("mean", "median", "IQM")
# Resamples drawn and reduced at a time: bounds the memory of many seeds x datasets, not the result (the draws
# come from one stream, in the same order whatever the block).
_BLOCK_ELEMENTS = 4_000_000


def aggregates(scores: np.ndarray) -> np.ndarray:
    """Mean and median over datasets of the per-dataset mean, and the interquartile mean of every run's score
    (a quarter cut off each end, as rliable's aggregate_iqm), of score matrices (..., seeds, datasets):
    the three along the last axis."""
    dataset_means = scores.mean(axis=-2)
    ordered = np.sort(scores.reshape(*scores.shape[:-2], -1), axis=-1)
    cut = int(0.25 * ordered.shape[-1])
    middle = ordered[..., cut : ordered.shape[-1] - cut]
    return np.stack([dataset_means.mean(axis=-1), np.median(dataset_means, axis=-1), middle.mean(axis=-1)], axis=-1)


def interval_estimates(
    scores: dict[str, np.ndarray], seed: int = 0, reps: int = BOOTSTRAP_REPS
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Mean, median and IQM of each algorithm's (seeds x datasets) score matrix, each with its CONFIDENCE
    stratified-bootstrap percentile interval over `reps` resamples: {algo: {name: (point, low, high)}}.
    The same `seed` gives the same intervals; numpy's global generator is neither read nor moved."""
    draws = np.random.RandomState(seed)
    alpha = (1.0 - CONFIDENCE) / 2
    estimates = {}
    for algo, matrix in scores.items():
        matrix = np.asarray(matrix, dtype=float)
        seeds, datasets = matrix.shape
        block = max(1, _BLOCK_ELEMENTS // matrix.size)
        resampled = np.concatenate(
            [
                aggregates(matrix[draws.randint(0, seeds, size=(min(block, reps - done), seeds, datasets)), np.arange(datasets)])
                for done in range(0, reps, block)
            ]
        )
        low, high = np.percentile(resampled, [100 * alpha, 100 * (1.0 - alpha)], axis=0)
        point = aggregates(matrix)
        estimates[algo] = {name: (float(point[i]), float(low[i]), float(high[i])) for i, name in enumerate(AGGREGATES)}
    return estimates
