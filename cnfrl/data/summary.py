"""What `cnfrl data info` reports about a dataset, as plain values (the CLI renders them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnfrl.data.transitions import Transitions
from cnfrl.envs.reference_scores import dataset_score, reference_scores


def summarize(transitions: Transitions, name: str) -> dict[str, Any]:
    """Size, episodes, return statistics, action range, dimensions, ends and reference scores of a dataset."""
    returns = transitions.episode_returns()
    summary: dict[str, Any] = {
        "source": name,
        "env_id": transitions.metadata.get("env_id"),
        "transitions": len(transitions),
        "episodes": transitions.num_episodes,
        "observation_dim": transitions.observation_dim,
        "action_dim": transitions.action_dim,
        "return_min": float(returns.min()),
        "return_mean": float(returns.mean()),
        "return_max": float(returns.max()),
        "episode_length_mean": float(transitions.episode_lengths().mean()),
        "action_min": float(transitions.actions.min()),
        "action_max": float(transitions.actions.max()),
        "terminals": int(transitions.terminals.sum()),
        "timeouts": int(transitions.timeouts.sum()),
        "fingerprint": transitions.fingerprint,
    }
    references = reference_scores(name, transitions.metadata)
    if references is not None:
        summary.update(
            reference_origin=references.origin,
            ref_min_score=references.random_return,
            ref_max_score=references.expert_return,
            normalized_return_mean=dataset_score(references, name, transitions.metadata, summary["return_mean"]),
        )
        if summary["normalized_return_mean"] is None:
            summary["normalized_return_note"] = "none: maze2d data re-draws its goal on arrival (not evaluation episodes)"
    unused = transitions.metadata.get("unused_keys")
    if unused:
        summary["unused_keys"] = list(np.atleast_1d(unused))
    return summary
