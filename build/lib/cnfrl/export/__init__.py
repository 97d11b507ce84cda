"""Trained policies outside JAX: `exporter` writes a run's deterministic policy as ONNX or as a NumPy program;
`numpy_policy` runs the latter with NumPy alone (this package imports nothing heavy on its own)."""
