"""Policy export: the NumPy and ONNX policies compute what the JAX policy computes, for every algorithm, at
batch sizes 1 and 64, on random and dataset observations; files round-trip with their metadata; errors are
one line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import jax
import numpy as np
import onnxruntime
import pytest
from test_algorithms import bandit, run_data, small_config, untrained

from cnfrl.errors import CnfrlError
from cnfrl.experiments.pipeline import make_agent
from cnfrl.experiments.registry import ALGORITHMS
from cnfrl.export.numpy_policy import NumpyPolicy, load_policy
from cnfrl.export.onnx_policy import to_onnx
from cnfrl.export.policy_files import load_exported
from cnfrl.export.program import policy_program

TOLERANCE = 1e-5
VARIANTS = [*ALGORITHMS, "plas+p"]


def perturbed_agent(name: str, transitions):
    """An agent whose every weight is moved off its initialisation (so each flow coupling acts, not the identity)."""
    algo = name.removesuffix("+p")
    config = small_config(algo)
    if name.endswith("+p"):
        config = dataclasses.replace(config, agent=dataclasses.replace(config.agent, perturbation=0.05))
    agent = make_agent(config, run_data(transitions), untrained(algo, transitions))
    rng = np.random.default_rng(0)

    def move(path, leaf):
        derived = any(getattr(key, "key", None) == "frozen" for key in path)  # a frozen flow's inverses: recomputed below
        if hasattr(leaf, "dtype") and np.issubdtype(leaf.dtype, np.floating) and not derived:
            return leaf + 0.05 * rng.standard_normal(np.shape(leaf)).astype(np.float32)
        return leaf

    agent = jax.tree_util.tree_map_with_path(move, agent)
    return agent.replace(model=agent.model.frozen()) if hasattr(agent, "model") else agent


@pytest.mark.parametrize("name", VARIANTS)
def test_numpy_and_onnx_policies_match_the_jax_policy(name):
    transitions = bandit(1000)
    agent = perturbed_agent(name, transitions)
    program, arrays = policy_program(agent)
    policy = NumpyPolicy(program, arrays, {"algorithm": name})
    session = onnxruntime.InferenceSession(to_onnx(program, arrays, 2, 2, {}).SerializeToString())
    onnx = lambda obs: session.run(None, {"observations": obs})[0]
    random = np.random.default_rng(1).normal(0.0, 1.5, (1000, 2)).astype(np.float32)
    act = jax.jit(agent.act)
    for observations in (random, transitions.observations):
        expected = np.asarray(act(observations))
        for start in range(0, 1000, 64):
            rows = slice(start, start + 64)
            np.testing.assert_allclose(policy(observations[rows]), expected[rows], atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(onnx(observations[rows]), expected[rows], atol=TOLERANCE, rtol=0)
        for row in range(0, 1000, 50):
            np.testing.assert_allclose(policy(observations[row]), expected[row], atol=TOLERANCE, rtol=0)
            np.testing.assert_allclose(onnx(observations[row : row + 1])[0], expected[row], atol=TOLERANCE, rtol=0)


def test_files_round_trip_with_their_metadata(tmp_path):
    transitions = bandit(256)
    program, arrays = policy_program(perturbed_agent("cnf", transitions))
    metadata = {"algorithm": "cnf", "env_id": "Bandit", "observation_dim": 2}
    saved = NumpyPolicy(program, arrays, metadata).save(tmp_path / "policy.npz")
    (tmp_path / "policy.onnx").write_bytes(to_onnx(program, arrays, 2, 2, metadata).SerializeToString())
    observations = transitions.observations[:64]
    expected = NumpyPolicy(program, arrays, metadata)(observations)
    assert load_policy(saved).metadata == metadata
    for path in (saved, tmp_path / "policy.onnx"):
        act, found = load_exported(path)
        assert found["algorithm"] == "cnf" and found["observation_dim"] == "2"
        np.testing.assert_allclose(act(observations), expected, atol=TOLERANCE)
    np.save(tmp_path / "observations.npy", observations)
    without_jax = (
        "import sys; sys.modules['jax'] = None; import numpy as np; from cnfrl.export.numpy_policy import load_policy; "
        f"np.save('{tmp_path}/actions.npy', load_policy('{saved}')(np.load('{tmp_path}/observations.npy')))"
    )
    subprocess.run([sys.executable, "-c", without_jax], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "actions.npy"), expected)


def test_what_cannot_be_exported_is_named(tmp_path):
    with pytest.raises(CnfrlError, match="object: no deterministic policy to export"):
        policy_program(object())
    with pytest.raises(CnfrlError, match="no such policy file; write one with `cnfrl export"):
        load_exported(tmp_path / "missing.onnx")
    (tmp_path / "policy.pt").write_bytes(b"")
    with pytest.raises(CnfrlError, match="a policy file ends in .onnx or .npz"):
        load_exported(tmp_path / "policy.pt")
    from cnfrl.experiments.export import export_run

    with pytest.raises(CnfrlError, match="no checkpoint; run `cnfrl train` into this directory first"):
        export_run(tmp_path, "onnx")
