"""Orchestration: run configs and presets, the run pipeline, grids (local and Ray) and reports."""
