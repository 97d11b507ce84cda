"""The harness every registered algorithm passes (in the spirit of d3rlpy's algorithm tester): build, update,
act, save/load round trip, finite values, exact resume, and learning a one-step task whose best action is known."""

from __future__ import annotations

import dataclasses
import json
import shutil
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnfrl.training.loop as train_module
from cnfrl.data.transitions import Transitions
from cnfrl.experiments.pipeline import RunData, make_agent
from cnfrl.experiments.registry import ALGORITHMS, algorithm, preset
from cnfrl.models import model_class
from cnfrl.models.pretrain import (
    PretrainConfig,
    PretrainResult,
    pretrain_action_model,
    untrained_model,
)
from cnfrl.training.checkpoints import CHECKPOINT, checkpoint_updates, load_checkpoint, save_checkpoint
from cnfrl.training.loop import LoopConfig, SeedRun, device_batches, fit, fit_seeds, run_updates

OBS = ACT = 2
SMALL_HIDDEN = (32, 32)
NAMES = list(ALGORITHMS)


def shrink(config: Any) -> Any:
    """The same config with every hidden size (32, 32) and a warm-up of 500 updates, nested configs included."""
    changes = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name.endswith("hidden") and value:
            changes[field.name] = SMALL_HIDDEN
        elif field.name == "actor_warmup" and value:
            changes[field.name] = 500
        elif dataclasses.is_dataclass(value):
            changes[field.name] = shrink(value)
    return dataclasses.replace(config, **changes)


def small_config(name: str):
    config = preset("cpu-quick", name)
    model = config.model
    if model is not None:
        model = dataclasses.replace(model, blocks=2, hidden=32) if algorithm(name).action_model == "flow" else shrink(model)
    return dataclasses.replace(
        config, agent=shrink(config.agent), model=model, loop=dataclasses.replace(config.loop, batch_size=64)
    )


def optimal_action(observations: np.ndarray) -> np.ndarray:
    return 0.6 * observations


def reward(observations: np.ndarray, actions: np.ndarray) -> np.ndarray:
    return 1.0 - ((actions - optimal_action(observations)) ** 2).sum(-1)


def bandit(n: int = 4096, seed: int = 0) -> Transitions:
    """One-step episodes: half the actions near the best action 0.6 s, half near its mirror -0.6 s."""
    rng = np.random.default_rng(seed)
    observations = rng.uniform(-1, 1, (n, OBS)).astype(np.float32)
    sign = np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None]
    actions = np.clip(sign * optimal_action(observations) + 0.1 * rng.standard_normal((n, ACT)), -0.95, 0.95).astype(np.float32)
    done = np.ones(n, bool)
    return Transitions(observations, actions, reward(observations, actions), observations, done, np.zeros(n, bool), done)


def run_data(transitions: Transitions) -> RunData:
    return RunData(transitions, "bandit", "", None)


def untrained(name: str, transitions: Transitions) -> PretrainResult | None:
    config, kind = small_config(name), algorithm(name).action_model
    if kind is None:
        return None
    return PretrainResult(untrained_model(transitions, kind, config.model), 0, [])


def leaves_equal(a: Any, b: Any) -> None:
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("name", NAMES)
def test_build_update_act_keep_values_finite(name):
    transitions = bandit(512)
    config = small_config(name)
    agent = make_agent(config, run_data(transitions), untrained(name, transitions))
    agent, metrics = run_updates(agent, device_batches(transitions), jax.random.PRNGKey(0), 20, 64)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(agent))
    actions = agent.act(jnp.asarray(transitions.observations[:10]))
    assert actions.shape == (10, ACT) and bool(jnp.all(jnp.abs(actions) <= 1))


@pytest.mark.parametrize("name", NAMES)
def test_save_and_load_round_trip(name, tmp_path):
    transitions = bandit(512)
    config = small_config(name)
    model = untrained(name, transitions)
    agent, _ = run_updates(
        make_agent(config, run_data(transitions), model), device_batches(transitions), jax.random.PRNGKey(1), 5, 64
    )
    save_checkpoint(tmp_path / "agent.msgpack", agent, 5, [{"step": 5}])
    fresh = make_agent(dataclasses.replace(config, seed=9), run_data(transitions), model)
    loaded, updates, history = load_checkpoint(tmp_path / "agent.msgpack", fresh)
    assert updates == 5 and history == [{"step": 5}]
    leaves_equal(agent, loaded)
    observations = jnp.asarray(transitions.observations[:16])
    np.testing.assert_array_equal(np.asarray(agent.act(observations)), np.asarray(loaded.act(observations)))


@pytest.mark.parametrize("name", NAMES)
def test_resumed_run_equals_uninterrupted_run(name, tmp_path):
    transitions = bandit(512)
    config = small_config(name)
    model = untrained(name, transitions)
    make = lambda: make_agent(config, run_data(transitions), model)
    no_eval = lambda agent: {}
    full = LoopConfig(updates=40, batch_size=64, chunk=10, eval_every=10)
    straight, _ = fit(make(), transitions, full, tmp_path / "straight", no_eval, seed=7, show_progress=False)
    fit(make(), transitions, dataclasses.replace(full, updates=20), tmp_path / "killed", no_eval, seed=7, show_progress=False)
    assert (tmp_path / "killed" / CHECKPOINT).is_file()
    resumed, history = fit(make(), transitions, full, tmp_path / "killed", no_eval, seed=7, resume=True, show_progress=False)
    assert [record["step"] for record in history] == [10, 20, 30, 40]
    leaves_equal(straight, resumed)


@pytest.mark.parametrize("dies", ["before", "after"])
def test_a_run_that_dies_around_a_checkpoint_write_resumes_with_every_metrics_line(dies, tmp_path, monkeypatch):
    """A process killed just before or just after writing a checkpoint: the resumed run's metrics.jsonl equals an
    uninterrupted run's (no line lost, none repeated)."""
    transitions = bandit(512)
    config = small_config("bc")
    make = lambda: make_agent(config, run_data(transitions), None)
    no_eval = lambda agent: {"score_mean": 0.0}
    loop = LoopConfig(updates=40, batch_size=64, chunk=10, eval_every=20)
    fit(make(), transitions, loop, tmp_path / "straight", no_eval, seed=3, show_progress=False)
    save = train_module.save_checkpoint

    def dying(path, agent, updates, history):
        if updates == 20 and dies == "before":
            raise KeyboardInterrupt
        save(path, agent, updates, history)
        if updates == 20 and dies == "after":
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", dying)
    with pytest.raises(KeyboardInterrupt):
        fit(make(), transitions, loop, tmp_path / "killed", no_eval, seed=3, show_progress=False)
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    fit(make(), transitions, loop, tmp_path / "killed", no_eval, seed=3, resume=True, show_progress=False)
    assert metric_lines(tmp_path / "killed") == metric_lines(tmp_path / "straight")


def test_a_run_stopped_between_evaluations_resumes_from_its_timed_checkpoint(tmp_path, monkeypatch):
    """With CHECKPOINT_SECONDS elapsed a run checkpoints between evaluations too: stopped at update 30 of an
    evaluation period of 20, it resumes there (not from 20) and ends as the uninterrupted run, metrics and all."""
    transitions = bandit(512)
    config = small_config("bc")
    make = lambda: make_agent(config, run_data(transitions), None)
    no_eval = lambda agent: {"score_mean": 0.0}
    loop = LoopConfig(updates=40, batch_size=64, chunk=10, eval_every=20)
    straight, _ = fit(make(), transitions, loop, tmp_path / "straight", no_eval, seed=3, show_progress=False)
    monkeypatch.setattr(train_module, "CHECKPOINT_SECONDS", 0.0)
    save = train_module.save_checkpoint

    def stopped(path, agent, updates, history):
        save(path, agent, updates, history)
        if updates == 30:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", stopped)
    with pytest.raises(KeyboardInterrupt):
        fit(make(), transitions, loop, tmp_path / "stopped", no_eval, seed=3, show_progress=False)
    assert checkpoint_updates(tmp_path / "stopped" / CHECKPOINT) == 30
    monkeypatch.setattr(train_module, "save_checkpoint", save)
    resumed, history = fit(make(), transitions, loop, tmp_path / "stopped", no_eval, seed=3, resume=True, show_progress=False)
    assert [record["step"] for record in history] == [20, 40]
    assert metric_lines(tmp_path / "stopped") == metric_lines(tmp_path / "straight")
    leaves_equal(straight, resumed)


def metric_lines(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["cnf", "plas", "lapo", "bc"])
def test_seeds_trained_together_equal_separate_runs(name, tmp_path):
    """Seeds vmapped in one program start from the agents and draw the minibatches of separate runs; the
    compiled batched matmuls round differently in the last bits, so after 20 updates they agree closely, not
    bit for bit (as two machines would)."""
    transitions = bandit(512)
    config = small_config(name)
    model = untrained(name, transitions)
    make = lambda seed: make_agent(dataclasses.replace(config, seed=seed), run_data(transitions), model)
    no_eval = lambda agent: {}
    loop = LoopConfig(updates=20, batch_size=64, chunk=10, eval_every=10)
    seeds = (3, 4, 5)
    alone = [fit(make(s), transitions, loop, tmp_path / f"alone{s}", no_eval, seed=s, show_progress=False)[0] for s in seeds]
    runs = [SeedRun(make(s), s, tmp_path / f"together{s}") for s in seeds]
    together = fit_seeds(runs, transitions, loop, no_eval, show_progress=False)
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(alone[0]), jax.tree.leaves(alone[1]), strict=True))
    for seed, separate, (agent, history) in zip(seeds, alone, together, strict=True):
        assert [record["step"] for record in history] == [10, 20]
        for x, y in zip(jax.tree.leaves(separate), jax.tree.leaves(agent), strict=True):
            np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=1e-3, atol=1e-3)
        for a, b in zip(metric_lines(tmp_path / f"alone{seed}"), metric_lines(tmp_path / f"together{seed}"), strict=True):
            assert a.keys() == b.keys() and a["step"] == b["step"]
            np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], rtol=1e-3, atol=1e-4)
        assert (tmp_path / f"together{seed}" / CHECKPOINT).is_file()


def test_seeds_resume_exactly_and_a_seed_cut_off_earlier_catches_up_exactly(tmp_path):
    """A group resumed from its checkpoints ends bit for bit as the uninterrupted group, also when a crash left
    its seeds at different checkpoints (the seed behind catches up inside the same vmapped program)."""
    transitions = bandit(512)
    config = small_config("cnf")
    model = untrained("cnf", transitions)
    make = lambda seed: make_agent(dataclasses.replace(config, seed=seed), run_data(transitions), model)
    no_eval = lambda agent: {}
    full = LoopConfig(updates=40, batch_size=64, chunk=10, eval_every=10)
    group = lambda folder, resume=False, loop=full: fit_seeds(
        [SeedRun(make(s), s, tmp_path / folder / f"s{s}") for s in (0, 1)], transitions, loop, no_eval, resume, False
    )
    straight = group("straight")
    group("killed", loop=dataclasses.replace(full, updates=20))
    shutil.copytree(tmp_path / "killed" / "s1", tmp_path / "uneven" / "s1")
    resumed = group("killed", resume=True)
    for (a, _), (b, history) in zip(straight, resumed, strict=True):
        leaves_equal(a, b)
        assert [record["step"] for record in history] == [10, 20, 30, 40]
    group("ahead", loop=dataclasses.replace(full, updates=30))
    shutil.copytree(tmp_path / "ahead" / "s0", tmp_path / "uneven" / "s0")
    caught_up = group("uneven", resume=True)
    for (a, _), (b, history) in zip(straight, caught_up, strict=True):
        assert [record["step"] for record in history] == [10, 20, 30, 40]
        leaves_equal(a, b)


@pytest.fixture(scope="module")
def trained_models() -> dict[str, PretrainResult]:
    """Each action-model configuration the registry uses, pre-trained once on the bandit data."""
    transitions, models = bandit(), {}
    for name in NAMES:
        kind = algorithm(name).action_model
        if kind is None:
            continue
        config = small_config(name)
        model_config = config.model
        key = f"{kind}-{model_config}"
        if key not in models:
            settings = PretrainConfig(epochs=30, batch_size=256, learning_rate=2e-3, grad_clip=1.0, sample_states=64)
            models[key] = pretrain_action_model(transitions, model_class(kind), model_config, settings, show_progress=False)
    return models


@pytest.mark.parametrize("name", NAMES)
def test_learns_the_better_mode_of_a_one_step_task(name, trained_models):
    """The learned policy beats the dataset's behaviour on fresh states (reward 1 at the best action); an RL
    algorithm also finds the better mode, which imitation cannot (BC averages the modes: about 0.77)."""
    transitions = bandit()
    config = small_config(name)
    kind = algorithm(name).action_model
    model = None
    if kind is not None:
        model = trained_models[f"{kind}-{config.model}"]
    agent = make_agent(config, run_data(transitions), model)
    updates = 3000 if config.loop.updates else 0
    if updates:
        agent, _ = run_updates(agent, device_batches(transitions), jax.random.PRNGKey(0), updates, 64)
    states = np.random.default_rng(1).uniform(-1, 1, (2000, OBS)).astype(np.float32)
    learned = reward(states, np.asarray(agent.act(jnp.asarray(states)))).mean()
    behaviour = transitions.rewards.mean()
    print(f"{name}: learned {learned:.3f}, behaviour {behaviour:.3f}")
    assert learned > behaviour + 0.1
    if algorithm(name).uses_rewards:
        assert learned > 0.85
