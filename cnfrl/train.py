"""The training loop: chunks of jitted, scanned updates on device-resident data, periodic evaluation,
JSONL and TensorBoard metrics, atomic checkpoints, and resuming a killed run where it stopped."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import serialization

from cnfrl.data.files import write_atomically
from cnfrl.data.transitions import Transitions
from cnfrl.errors import CnfrlError
from cnfrl.progress import progress_bar

CHECKPOINT = "checkpoints/last.msgpack"


@dataclass(frozen=True)
class LoopConfig:
    """How long to train, on minibatches of what size, and how often to evaluate and checkpoint."""

    updates: int = 1_000_000
    batch_size: int = 512
    chunk: int = 1_000
    eval_every: int = 5_000

    def check(self) -> None:
        """Refuse a loop no run can use, with one line naming the setting and the fix."""
        checks = [
            (self.chunk > 0, f"loop.chunk={self.chunk}: updates run in chunks of at least 1; set loop.chunk=1000"),
            (self.updates >= 0, f"loop.updates={self.updates}: the number of updates cannot be negative"),
            (self.eval_every > 0, f"loop.eval_every={self.eval_every}: evaluate every 1 or more updates"),
            (self.batch_size > 0, f"loop.batch_size={self.batch_size}: a minibatch needs at least one transition"),
            (
                self.chunk <= 0 or (self.updates % self.chunk == 0 and self.eval_every % self.chunk == 0),
                f"loop.updates ({self.updates}) and loop.eval_every ({self.eval_every}) must be multiples of "
                f"loop.chunk ({self.chunk})",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise CnfrlError(message)


def device_batches(transitions: Transitions) -> dict[str, jax.Array]:
    """The arrays an update samples from, on the device once for the whole run (terminals as floats)."""
    return {
        "observations": jnp.asarray(transitions.observations),
        "actions": jnp.asarray(transitions.actions),
        "rewards": jnp.asarray(transitions.rewards),
        "next_observations": jnp.asarray(transitions.next_observations),
        "terminals": jnp.asarray(transitions.terminals, jnp.float32),
    }


@partial(jax.jit, static_argnames=("updates", "batch_size"), donate_argnums=(0,))
def run_updates(
    agent: Any, data: dict[str, jax.Array], key: jax.Array, updates: int, batch_size: int, size: jax.Array | None = None
):
    """`updates` agent updates on uniform minibatches, scanned in one compiled call; metrics averaged.

    `size` limits sampling to the first rows (a replay buffer being filled); by default all rows are data.
    """
    rows = data["rewards"].shape[0] if size is None else size

    def step(agent, key):
        index = jax.random.randint(key, (batch_size,), 0, rows)
        return agent.update({k: v[index] for k, v in data.items()})

    agent, metrics = jax.lax.scan(step, agent, jax.random.split(key, updates))
    return agent, jax.tree_util.tree_map(jnp.mean, metrics)


def save_checkpoint(path: Path, agent: Any, updates: int, history: list[dict]) -> None:
    """Agent pytree, update count and evaluation history in one file, replaced atomically."""
    payload = serialization.msgpack_serialize(
        {"agent": serialization.to_state_dict(jax.device_get(agent)), "updates": updates, "history": json.dumps(history)}
    )
    write_atomically(path, payload)


def checkpoint_updates(path: Path) -> int:
    """How many updates the checkpoint at `path` holds (without building an agent)."""
    return int(serialization.msgpack_restore(Path(path).read_bytes())["updates"])


def check_extends(run_dir: Path, done: int, updates: int) -> None:
    """Refuse a resume that would end before the updates a run has already made."""
    if done > updates:
        raise CnfrlError(
            f"{run_dir}: the run has trained {done} updates already; a resume can only extend it "
            f"(loop.updates={updates} is fewer)"
        )


def load_checkpoint(path: Path, template: Any) -> tuple[Any, int, list[dict]]:
    """Restore what `save_checkpoint` wrote, shaped like `template` (a freshly created agent).

    A checkpoint of the earlier layout (loose `target_X_params` fields) still loads: the field moves into X's
    train state. One that does not fit the agent (truncated, or of another algorithm or layout) is a one-line
    error.
    """
    try:
        payload = serialization.msgpack_restore(Path(path).read_bytes())
        state = _upgraded(dict(payload["agent"]), serialization.to_state_dict(template))
        agent = serialization.from_state_dict(template, state)
        shapes = [(jnp.shape(a), jnp.shape(b)) for a, b in zip(jax.tree.leaves(template), jax.tree.leaves(agent), strict=True)]
        if any(expected != found for expected, found in shapes):
            raise ValueError("array shapes differ from the agent's: its networks were built with other sizes")
        return agent, int(payload["updates"]), json.loads(payload["history"])
    except (ValueError, KeyError, TypeError) as error:
        raise CnfrlError(
            f"{path}: not a checkpoint of this agent ({type(error).__name__}: {str(error)[:120]}); "
            "it may be truncated or from another cnfrl version: train into a new run directory"
        ) from error


def _upgraded(state: dict, template: dict) -> dict:
    for key in [k for k in state if k.startswith("target_") and k.endswith("_params") and k not in template]:
        owner = key.removeprefix("target_").removesuffix("_params")
        if isinstance(template.get(owner), dict) and "target_params" in template[owner]:
            state[owner] = {**state[owner], "target_params": state.pop(key)}
    return state


def fit(
    agent: Any,
    transitions: Transitions,
    loop: LoopConfig,
    run_dir: Path,
    evaluate: Callable[[Any], dict[str, float]],
    seed: int,
    resume: bool = False,
    show_progress: bool = True,
) -> tuple[Any, list[dict]]:
    """Train `agent` for `loop.updates` updates, evaluating every `eval_every`; returns it and the eval history.

    With `loop.updates` 0 (an agent with nothing to train) the agent is evaluated and checkpointed once.
    Every chunk's randomness comes from (seed, chunk index), so a run resumed from its last checkpoint ends
    with exactly the parameters an uninterrupted run reaches. The agent passed in is consumed (its device
    buffers are donated to the updates): use the returned one.
    """
    loop.check()
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT
    done, history = 0, list[dict]()
    if resume and checkpoint.is_file():
        agent, done, history = load_checkpoint(checkpoint, agent)
        check_extends(run_dir, done, loop.updates)
    metrics_path = run_dir / "metrics.jsonl"
    _truncate_metrics(metrics_path, done)
    data = device_batches(transitions)
    base_key = jax.random.PRNGKey(seed)
    writer = _tensorboard(run_dir)
    if loop.updates == 0 and not history:
        history.append({"step": 0, **{f"eval_{k}": v for k, v in evaluate(agent).items()}})
        save_checkpoint(checkpoint, agent, 0, history)
    with progress_bar() as bar, open(metrics_path, "a") as log:
        task = bar.add_task("training", total=loop.updates, completed=done, visible=show_progress)
        while done < loop.updates:
            agent, metrics = run_updates(
                agent, data, jax.random.fold_in(base_key, done // loop.chunk), loop.chunk, loop.batch_size
            )
            done += loop.chunk
            record = {"step": done, **{k: float(v) for k, v in metrics.items()}}
            _stop_if_diverged(agent, record, history)
            if done % loop.eval_every == 0 or done == loop.updates:
                record.update({f"eval_{k}": v for k, v in evaluate(agent).items()})
                history.append(record)
                save_checkpoint(checkpoint, agent, done, history)
                evaluated = ", ".join(f"{k[5:]} {v:.1f}" for k, v in record.items() if k.startswith("eval_"))
                bar.console.log(f"update {done}: {evaluated}")
            log.write(json.dumps(record, allow_nan=False) + "\n")
            log.flush()
            for key, value in record.items():
                if key != "step":
                    writer.add_scalar(key, value, done)
            last = history[-1] if history else {}
            score = last.get("eval_score_mean", last.get("eval_return_mean", float("nan")))
            bar.update(task, completed=done, description=f"training (last eval {score:.1f})")
    writer.close()
    return agent, history


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(
        jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)])
    )


def _stop_if_diverged(agent: Any, record: dict[str, float], history: list[dict]) -> None:
    """Stop a diverged run before it overwrites the last good checkpoint or writes NaN into the metrics."""
    bad = {name: value for name, value in record.items() if not math.isfinite(value)}
    if not bad and bool(_all_finite(agent)):
        return
    what = ", ".join(f"{name} = {value}" for name, value in bad.items()) or "a parameter is not finite"
    kept = f"the last good checkpoint (update {history[-1]['step']}) is kept" if history else "no checkpoint was written"
    raise CnfrlError(
        f"training diverged by update {record['step']} ({what}); {kept}; lower the learning rates "
        "(agent.critic_lr, agent.actor_lr) or check the dataset's rewards"
    )


def _truncate_metrics(path: Path, done: int) -> None:
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= done]
    path.write_text("".join(line + "\n" for line in kept))


def _tensorboard(run_dir: Path):
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(run_dir / "tensorboard"))
