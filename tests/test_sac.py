"""The SAC behaviour-policy trainer: finite updates, a device replay that keeps every step, learning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from cnfrl.collect.sac import Replay, SACAgent, SACConfig, train_sac
from cnfrl.errors import CnfrlError
from cnfrl.training.loop import run_updates


def test_replay_appends_in_order_and_updates_sample_only_written_rows():
    replay = Replay.create(6, 2, 1)
    chunk = {
        "observations": jnp.ones((3, 2)),
        "actions": jnp.ones((3, 1)),
        "rewards": jnp.arange(3.0) + 1,
        "next_observations": jnp.ones((3, 2)),
        "terminals": jnp.zeros(3),
    }
    replay = replay.append(chunk)
    assert int(replay.size) == 3
    np.testing.assert_array_equal(replay.data["rewards"], [1, 2, 3, 0, 0, 0])

    class Recorder(struct.PyTreeNode):
        def update(self, batch):
            return self, {"lowest": batch["rewards"].min(), "highest": batch["rewards"].max()}

    _, metrics = run_updates(Recorder(), replay.data, jax.random.PRNGKey(0), 20, 64, replay.size)
    assert float(metrics["lowest"]) == 1.0 and float(metrics["highest"]) == 3.0


def test_update_is_finite():
    agent = SACAgent.create(jax.random.PRNGKey(0), 4, 2, SACConfig(hidden=(32, 32)))
    batch = {
        "observations": jnp.ones((16, 4)),
        "actions": jnp.zeros((16, 2)),
        "rewards": jnp.ones(16),
        "next_observations": jnp.ones((16, 4)),
        "terminals": jnp.zeros(16),
    }
    agent, metrics = jax.jit(agent.update)(batch)
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_learns_to_hop():
    config = SACConfig(hidden=(64, 64), learning_starts=1000, update_every=50, eval_every=5000, eval_episodes=3)
    history, checkpoints, _ = train_sac("Hopper-v5", 10_000, seed=0, config=config, show_progress=False)
    assert len(history["rewards"]) == 10_000
    assert history["terminals"].sum() > 0 and history["timeouts"][-1]
    # A uniform random policy scores about 17 on Hopper-v5 (100 episodes, training.json).
    assert checkpoints[-1].eval_return_mean > 200, [c.eval_return_mean for c in checkpoints]


def test_rejects_action_spaces_other_than_the_unit_box():
    with pytest.raises(CnfrlError, match="actions in \\[-1, 1\\]"):
        train_sac("InvertedPendulum-v5", 100, show_progress=False)
