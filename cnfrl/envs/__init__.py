"""Environments: construction, evaluation rollouts and the reference scores that normalise returns."""
