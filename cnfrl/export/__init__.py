"""Trained policies outside JAX: `program` is the export program agents write their deterministic policy into,
`policy_files` writes it as ONNX or as a NumPy program and loads either back, and `numpy_policy` runs the latter
with NumPy alone (this package imports nothing heavy on its own)."""
