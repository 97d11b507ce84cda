"""The training loop (jitted, scanned updates; evaluation; metrics) and its checkpoints."""
