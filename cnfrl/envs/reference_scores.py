"""Reference returns for the D4RL normalised score, and the rule for which reference a dataset uses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

D4RL_REFERENCE_RETURNS: dict[str, tuple[float, float]] = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
    "maze2d-umaze": (23.85, 161.86),
    "maze2d-medium": (13.13, 277.39),
    "maze2d-large": (6.7, 273.99),
    "maze2d-umaze-dense": (68.537689, 193.66285642381482),
    "maze2d-medium-dense": (44.264742, 297.4552547777125),
    "maze2d-large-dense": (30.569041, 303.4857382709002),
    "antmaze": (0.0, 1.0),
}


@dataclass(frozen=True)
class ReferenceScores:
    """Random and expert returns of a task, and where they came from (dataset metadata or D4RL)."""

    random_return: float
    expert_return: float
    origin: str

    def score(self, episode_return: float) -> float:
        """The D4RL normalised score: 100 * (R - R_random) / (R_expert - R_random)."""
        return 100.0 * (episode_return - self.random_return) / (self.expert_return - self.random_return)


def d4rl_family(name: str) -> str | None:
    """The D4RL task family a dataset or environment name belongs to (longest match wins), or None."""
    lowered = name.lower().replace("_", "-").replace("/", "-")
    lowered = re.sub(r"^(d4rl|mujoco|cnfrl)-", "", lowered)
    for family in sorted(D4RL_REFERENCE_RETURNS, key=len, reverse=True):
        if re.search(rf"(^|-){re.escape(family)}(-|$)", lowered):
            return family
    return None


def reference_scores(name: str | None, metadata: Mapping[str, Any] | None = None) -> ReferenceScores | None:
    """Reference returns for a dataset: its own metadata when it holds both, else D4RL's for its family.

    Generated datasets carry `ref_min_score` / `ref_max_score` measured on the same environment (as Minari
    stores them); those win because Gymnasium's environments differ slightly from D4RL's.
    """
    metadata = metadata or {}
    low, high = metadata.get("ref_min_score"), metadata.get("ref_max_score")
    if low is not None and high is not None:
        return ReferenceScores(float(low), float(high), "dataset metadata")
    for candidate in (name, metadata.get("dataset_id"), metadata.get("env_id")):
        family = d4rl_family(candidate) if candidate else None
        if family is not None:
            return ReferenceScores(*D4RL_REFERENCE_RETURNS[family], origin=f"D4RL ({family})")
    return None


def dataset_score(
    references: ReferenceScores | None, name: str | None, metadata: Mapping[str, Any], mean_return: float
) -> float | None:
    """A dataset's mean episode return as a normalised score, or None where its episodes are not evaluation
    episodes (`redraws_goals`)."""
    if references is None or redraws_goals(name, metadata):
        return None
    return references.score(mean_return)


def redraws_goals(name: str | None, metadata: Mapping[str, Any]) -> bool:
    """Whether the dataset is maze2d data, D4RL's or cnfrl's: its goal is re-drawn each time it is reached, so a
    300-step segment earns a step or two of reward per goal where an evaluation episode stays at its one goal
    and earns every step. Its normalised return (about -7 for generated maze2d-umaze) says nothing about the
    data's quality, so none is reported."""
    candidates = (name, metadata.get("dataset_id"), metadata.get("env_id"))
    families = [d4rl_family(str(candidate)) or "" for candidate in candidates if candidate]
    return any(family.startswith("maze2d") for family in families) or str(metadata.get("env_id", "")).startswith("PointMaze")
