"""Agents: one file per algorithm, each a pytree with `update(batch) -> (agent, metrics)` and `act(obs)`."""
