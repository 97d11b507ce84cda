"""Soft Actor-Critic in JAX for training behaviour policies: one jitted scan of updates per chunk of steps.

The environment is stepped on the host; every `update_every` steps the new transitions are appended to a
device-resident replay buffer and the same number of gradient updates runs inside one jitted `lax.scan`
(one update per environment step on average, as in SAC; SB3's train_freq = gradient_steps = update_every).
The agent keeps the offline agents' contract (`update(batch)`, its own key), so the offline trainer's
`run_updates` drives it on the filled part of the buffer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from flax.training.train_state import TrainState

from cnfrl.envs.evaluate import evaluate_policy
from cnfrl.envs.make import make_env
from cnfrl.errors import CnfrlError
from cnfrl.networks import Batch, CriticEnsemble, GaussianHead, TargetTrainState, sample_tanh_gaussian
from cnfrl.training.loop import run_updates
from cnfrl.utils.progress import progress_bar


@dataclass(frozen=True)
class SACConfig:
    """SAC hyper-parameters (Haarnoja et al. 2018 defaults, as in SB3 and CleanRL)."""

    hidden: tuple[int, ...] = (256, 256)
    learning_rate: float = 3e-4
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    learning_starts: int = 5_000
    update_every: int = 50
    eval_every: int = 10_000
    eval_episodes: int = 10


class SACAgent(struct.PyTreeNode):
    """Actor, twin critics with their target copy, the entropy temperature and a key, as one pytree."""

    actor: TrainState
    critic: TargetTrainState
    log_alpha: TrainState
    rng: jax.Array
    target_entropy: float = struct.field(pytree_node=False)
    gamma: float = struct.field(pytree_node=False)
    tau: float = struct.field(pytree_node=False)

    @classmethod
    @partial(jax.jit, static_argnums=(0, 2, 3, 4))
    def create(cls, key: jax.Array, observation_dim: int, action_dim: int, config: SACConfig) -> SACAgent:
        """Fresh networks and Adam optimisers for an environment's observation and action sizes.

        Compiled as one program: run op by op, initialisation compiled some 70 small programs (about 2 s).
        """
        actor_key, critic_key, rng = jax.random.split(key, 3)
        observations, actions = jnp.zeros((1, observation_dim)), jnp.zeros((1, action_dim))
        actor_def, critic_def = GaussianHead(config.hidden, action_dim), CriticEnsemble(config.hidden)
        optimizer = optax.adam(config.learning_rate)
        critic_params = critic_def.init(critic_key, observations, actions)["params"]
        return cls(
            actor=TrainState.create(
                apply_fn=actor_def.apply, params=actor_def.init(actor_key, observations)["params"], tx=optimizer
            ),
            critic=TargetTrainState.create_with_target(critic_def.apply, critic_params, optimizer),
            log_alpha=TrainState.create(apply_fn=None, params={"log_alpha": jnp.zeros(())}, tx=optimizer),
            rng=rng,
            target_entropy=-float(action_dim),
            gamma=config.gamma,
            tau=config.tau,
        )

    def update(self, batch: Batch) -> tuple[SACAgent, dict[str, jax.Array]]:
        """One critic, actor and temperature step, then the soft target update."""
        rng, next_key, actor_key = jax.random.split(self.rng, 3)
        alpha = jnp.exp(self.log_alpha.params["log_alpha"])
        mean, log_std = self.actor.apply_fn({"params": self.actor.params}, batch["next_observations"])
        next_actions, next_log_prob = sample_tanh_gaussian(next_key, mean, log_std)
        next_q = self.critic.apply_fn({"params": self.critic.target_params}, batch["next_observations"], next_actions)
        target = batch["rewards"] + self.gamma * (1.0 - batch["terminals"]) * (next_q.min(0) - alpha * next_log_prob)

        def critic_loss(params):
            q = self.critic.apply_fn({"params": params}, batch["observations"], batch["actions"])
            return ((q - jax.lax.stop_gradient(target)) ** 2).mean(axis=1).sum(), q.mean()

        (c_loss, q_mean), grads = jax.value_and_grad(critic_loss, has_aux=True)(self.critic.params)
        critic = self.critic.apply_gradients(grads=grads)

        def actor_loss(params):
            mean, log_std = self.actor.apply_fn({"params": params}, batch["observations"])
            actions, log_prob = sample_tanh_gaussian(actor_key, mean, log_std)
            q = critic.apply_fn({"params": critic.params}, batch["observations"], actions).min(0)
            return (alpha * log_prob - q).mean(), log_prob.mean()

        (a_loss, log_prob), grads = jax.value_and_grad(actor_loss, has_aux=True)(self.actor.params)
        actor = self.actor.apply_gradients(grads=grads)
        alpha_grad = jax.grad(lambda p: -(p["log_alpha"] * jax.lax.stop_gradient(log_prob + self.target_entropy)))(
            self.log_alpha.params
        )
        agent = self.replace(
            actor=actor,
            critic=critic.soft_update(self.tau),
            log_alpha=self.log_alpha.apply_gradients(grads=alpha_grad),
            rng=rng,
        )
        return agent, {"critic_loss": c_loss, "actor_loss": a_loss, "q": q_mean, "alpha": alpha}


REPLAY_KEYS = ("observations", "actions", "rewards", "next_observations", "terminals")


class Replay(struct.PyTreeNode):
    """A fixed-capacity replay buffer that lives on the device."""

    data: dict[str, jax.Array]
    size: jax.Array

    @classmethod
    def create(cls, capacity: int, observation_dim: int, action_dim: int) -> Replay:
        """Zeroed storage for `capacity` transitions."""
        shapes = {
            "observations": (capacity, observation_dim),
            "actions": (capacity, action_dim),
            "rewards": (capacity,),
            "next_observations": (capacity, observation_dim),
            "terminals": (capacity,),
        }
        return cls({k: jnp.asarray(np.zeros(s, np.float32)) for k, s in shapes.items()}, jnp.asarray(np.int32(0)))

    def append(self, chunk: dict[str, jax.Array]) -> Replay:
        """Write a chunk of transitions after the last one (capacity is sized so it never wraps)."""
        data = {k: jax.lax.dynamic_update_slice_in_dim(v, chunk[k].astype(v.dtype), self.size, 0) for k, v in self.data.items()}
        return self.replace(data=data, size=self.size + len(chunk["rewards"]))


append_chunk = jax.jit(Replay.append, donate_argnums=(0,))


@partial(jax.jit, static_argnames=("apply_fn",))
def policy_action(actor_params: Any, apply_fn: Callable, observation: jax.Array, key: jax.Array, step: int) -> jax.Array:
    """The actor's tanh-Gaussian sample for one observation (how SAC explores and how its datasets are drawn)."""
    mean, log_std = apply_fn({"params": actor_params}, observation[None])
    return sample_tanh_gaussian(jax.random.fold_in(key, step), mean, log_std)[0][0]


class ActorPolicy:
    """A callable sampling policy (observation -> action) from saved actor parameters, for evaluation and
    collection."""

    def __init__(self, params: Any, action_dim: int, hidden: tuple[int, ...], seed: int):
        self.params = jax.device_put(params)
        self.apply_fn = GaussianHead(tuple(hidden), action_dim).apply
        self.key = jax.random.PRNGKey(seed)
        self.calls = 0

    def __call__(self, observation: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.asarray(policy_action(self.params, self.apply_fn, observation, self.key, self.calls))


@dataclass
class Checkpoint:
    """An actor snapshot taken during training, with its evaluation returns."""

    step: int
    actor_params: Any
    eval_return_mean: float
    eval_return_std: float


def end_last_episode(history: dict[str, np.ndarray]) -> None:
    """Mark a buffer's last transition as a time-out unless it is a terminal: a buffer cut mid-episode ends
    that episode, as D4RL marks a cut."""
    history["timeouts"][-1] |= ~history["terminals"][-1]


def train_sac(
    env_id: str,
    total_steps: int,
    seed: int = 0,
    config: SACConfig = SACConfig(),
    on_checkpoint: Callable[[Checkpoint], bool] | None = None,
    show_progress: bool = True,
) -> tuple[dict[str, np.ndarray], list[Checkpoint], dict[str, float]]:
    """Train SAC for `total_steps` environment steps; evaluate and snapshot the actor every `eval_every` steps.

    Returns the full history of collected transitions (the replay buffer, in D4RL layout, for
    medium-replay datasets), the checkpoints, and timing figures. `on_checkpoint` may return True to stop.
    """
    env, eval_env = make_env(env_id), make_env(env_id)
    action_space, observation_space = env.action_space, env.observation_space
    assert isinstance(action_space, gym.spaces.Box) and isinstance(observation_space, gym.spaces.Box)
    if not (np.all(action_space.low == -1.0) and np.all(action_space.high == 1.0)):
        raise CnfrlError(f"{env_id}: SAC here acts with tanh, so it needs actions in [-1, 1]; this task's bounds differ")
    observation_dim, action_dim = observation_space.shape[0], action_space.shape[0]
    chunk = config.update_every
    capacity = math.ceil(total_steps / chunk) * chunk
    history = {
        "observations": np.zeros((capacity, observation_dim), np.float32),
        "actions": np.zeros((capacity, action_dim), np.float32),
        "rewards": np.zeros(capacity, np.float32),
        "next_observations": np.zeros((capacity, observation_dim), np.float32),
        "terminals": np.zeros(capacity, bool),
        "timeouts": np.zeros(capacity, bool),
    }
    key = jax.random.PRNGKey(seed)
    key, init_key, act_key = jax.random.split(key, 3)
    agent = SACAgent.create(init_key, observation_dim, action_dim, config)
    replay = Replay.create(capacity, observation_dim, action_dim)
    env.action_space.seed(seed)
    observation, _ = env.reset(seed=seed)
    checkpoints: list[Checkpoint] = []
    update_seconds, start = 0.0, time.perf_counter()
    last_return, episode_return = float("nan"), 0.0
    step = 0
    with progress_bar() as bar:
        task = bar.add_task(f"SAC {env_id}", total=total_steps, visible=show_progress)
        for step in range(capacity):
            if step < config.learning_starts:
                action = env.action_space.sample()
            else:
                action = np.asarray(policy_action(agent.actor.params, agent.actor.apply_fn, observation, act_key, step))
            next_observation, reward, terminated, truncated, _ = env.step(action)
            for name, value in (
                ("observations", observation),
                ("actions", action),
                ("rewards", reward),
                ("next_observations", next_observation),
                ("terminals", terminated),
                ("timeouts", truncated),
            ):
                history[name][step] = value
            episode_return += float(reward)
            if terminated or truncated:
                observation, last_return, episode_return = env.reset()[0], episode_return, 0.0
            else:
                observation = next_observation
            if (step + 1) % chunk:
                continue
            rows = slice(step + 1 - chunk, step + 1)
            replay = append_chunk(replay, {k: jnp.asarray(history[k][rows]) for k in REPLAY_KEYS})
            if step + 1 >= config.learning_starts:
                tick = time.perf_counter()
                key, train_key = jax.random.split(key)
                agent, _ = run_updates(agent, replay.data, train_key, chunk, config.batch_size, replay.size)
                jax.block_until_ready(agent.actor.params)
                update_seconds += time.perf_counter() - tick
            bar.update(task, completed=step + 1, description=f"SAC {env_id} (last return {last_return:.0f})")
            if (step + 1) % config.eval_every == 0:
                policy = ActorPolicy(agent.actor.params, action_dim, config.hidden, seed + step)
                returns = evaluate_policy(eval_env, policy, config.eval_episodes, seed=10_000 + step)
                checkpoints.append(
                    Checkpoint(step + 1, jax.device_get(agent.actor.params), float(returns.mean()), float(returns.std()))
                )
                bar.console.log(f"step {step + 1}: eval return {returns.mean():.1f} +- {returns.std():.1f}")
                if on_checkpoint is not None and on_checkpoint(checkpoints[-1]):
                    break
    steps_done = step + 1
    history = {k: v[:steps_done] for k, v in history.items()}
    end_last_episode(history)
    timing = {"steps": steps_done, "seconds": time.perf_counter() - start, "update_seconds": update_seconds}
    return history, checkpoints, timing
