"""The yardstick for the CNF update: the same arithmetic written as plainly as JAX allows.

One critic step and one actor step of CNF's update (decode a sampled latent for the next state, twin-critic
TD target, advantage-weighted L1 regression through the decoder) with networks of the given sizes, as bare
functions on dicts of arrays: no Flax modules, no agent pytree, the frozen flow's inverse matrices computed
once. What cnfrl's update reaches against this is its distance from the roof on a machine.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import optax


def _mlp_params(key: jax.Array, sizes: list[int]) -> list[dict[str, jax.Array]]:
    keys = jax.random.split(key, len(sizes) - 1)
    return [
        {"w": jax.random.normal(k, (m, n)) / jnp.sqrt(m), "b": jnp.zeros(n)}
        for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]


def _mlp(params: list[dict[str, jax.Array]], x: jax.Array, activation=jax.nn.relu) -> jax.Array:
    for layer in params[:-1]:
        x = activation(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def _flow_params(key: jax.Array, blocks: int, hidden: int, obs_dim: int, act_dim: int) -> list[dict]:
    a_size = act_dim // 2
    b_size = act_dim - a_size
    params = []
    for k in jax.random.split(key, blocks):
        k1, k2 = jax.random.split(k)
        weight = jnp.linalg.qr(jax.random.normal(k1, (act_dim, act_dim)))[0]
        params.append(
            {
                "bias": jnp.zeros(act_dim),
                "log_scale": jnp.zeros(act_dim),
                "inverse": jnp.linalg.inv(weight),  # computed once: the flow is frozen
                "coupling": _mlp_params(k2, [a_size + obs_dim, hidden, hidden, 2 * b_size]),
            }
        )
    return params


def _decode(flow: list[dict], latents: jax.Array, states: jax.Array) -> jax.Array:
    x = jnp.arctanh(jnp.clip(latents, -1 + 1e-6, 1 - 1e-6))
    for block, layer in reversed(list(enumerate(flow))):
        d = x.shape[-1]
        a_size = d // 2
        if block % 2:
            part_b, part_a = x[:, : d - a_size], x[:, d - a_size :]
        else:
            part_a, part_b = x[:, :a_size], x[:, a_size:]
        raw, shift = jnp.split(_mlp(layer["coupling"], jnp.concatenate([part_a, states], -1), jax.nn.leaky_relu), 2, -1)
        part_b = (part_b - shift) * jnp.exp(-jnp.tanh(raw))
        x = jnp.concatenate([part_b, part_a] if block % 2 else [part_a, part_b], -1)
        x = x @ layer["inverse"].T
        x = x * jnp.exp(-layer["log_scale"]) - layer["bias"]
    return jnp.tanh(x)


def plain_updates_per_second(
    obs_dim: int,
    act_dim: int,
    blocks: int,
    flow_hidden: int,
    actor_hidden: tuple[int, ...],
    critic_hidden: tuple[int, ...],
    batch_size: int,
    updates: int,
    seeds: int = 1,
) -> float:
    """Updates per second (per seed) of the plain CNF update, scanned `updates` times in one jitted call and
    vmapped over `seeds`; compiles first, then times a second call."""
    tx = optax.adam(3e-4)

    def init(key):
        k_flow, k_actor, k_q1, k_q2 = jax.random.split(key, 4)
        actor = _mlp_params(k_actor, [obs_dim, *actor_hidden, 2 * act_dim])
        critic = [_mlp_params(k, [obs_dim + act_dim, *critic_hidden, 1]) for k in (k_q1, k_q2)]
        return {
            "flow": _flow_params(k_flow, blocks, flow_hidden, obs_dim, act_dim),
            "actor": actor,
            "critic": critic,
            "target": critic,
            "actor_opt": tx.init(actor),
            "critic_opt": tx.init(critic),
        }

    def policy(state, actor, obs, key):
        mean, log_std = jnp.split(_mlp(actor, obs), 2, -1)
        latent = jnp.tanh(mean + jnp.exp(jnp.clip(log_std, -20, 2)) * jax.random.normal(key, mean.shape))
        return _decode(state["flow"], latent, obs)

    def q(critic, obs, actions):
        x = jnp.concatenate([obs, actions], -1)
        return jnp.stack([_mlp(c, x)[:, 0] for c in critic])

    def update(state, key):
        k_batch, k_next, k_actor = jax.random.split(key, 3)
        obs, next_obs = jax.random.normal(k_batch, (2, batch_size, obs_dim))
        actions = jnp.tanh(jax.random.normal(k_next, (batch_size, act_dim)))
        target = 1.0 + 0.99 * q(state["target"], next_obs, policy(state, state["actor"], next_obs, k_next)).min(0)
        critic_grads = jax.grad(lambda c: ((q(c, obs, actions) - target) ** 2).mean())(state["critic"])
        c_updates, critic_opt = tx.update(critic_grads, state["critic_opt"])
        critic = optax.apply_updates(state["critic"], c_updates)

        def actor_loss(actor):
            policy_actions = policy(state, actor, obs, k_actor)
            advantage = q(critic, obs, actions).min(0) - q(critic, obs, jax.lax.stop_gradient(policy_actions)).min(0)
            weights = jax.lax.stop_gradient(jnp.minimum(jnp.exp(3.0 * advantage), 100.0))
            return (weights[:, None] * jnp.abs(policy_actions - actions)).mean()

        a_updates, actor_opt = tx.update(jax.grad(actor_loss)(state["actor"]), state["actor_opt"])
        target_params = jax.tree.map(lambda t, c: 0.998 * t + 0.002 * c, state["target"], critic)
        return {
            **state,
            "critic": critic,
            "target": target_params,
            "critic_opt": critic_opt,
            "actor": optax.apply_updates(state["actor"], a_updates),
            "actor_opt": actor_opt,
        }, None

    def scan(state, key):
        return jax.lax.scan(update, state, jax.random.split(key, updates))[0]

    run = jax.jit(jax.vmap(scan)) if seeds > 1 else jax.jit(scan)
    init_keys = jax.random.split(jax.random.PRNGKey(0), seeds)
    state = jax.vmap(init)(init_keys) if seeds > 1 else init(init_keys[0])
    keys = [jax.random.split(jax.random.PRNGKey(i), seeds) if seeds > 1 else jax.random.PRNGKey(i) for i in (1, 2)]
    state = jax.block_until_ready(run(state, keys[0]))
    start = time.perf_counter()
    jax.block_until_ready(run(state, keys[1]))
    return updates / (time.perf_counter() - start)
