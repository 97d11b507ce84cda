"""Dataset generation: D4RL-style recipes on Gymnasium environments, written as Minari datasets."""

from cnfrl.collect.rollout import collect_transitions, uniform_random_policy

__all__ = ["collect_transitions", "uniform_random_policy"]
