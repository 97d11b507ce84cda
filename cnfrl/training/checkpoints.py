"""Training checkpoints: an agent's whole pytree, its update count and its evaluation history in one msgpack file
per run (RUN_DIR/checkpoints/last.msgpack), replaced atomically, so a killed run resumes where it stopped."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import serialization

import cnfrl
from cnfrl.errors import CnfrlError
from cnfrl.utils.files import write_atomically

CHECKPOINT = "checkpoints/last.msgpack"
PREVIOUS = "previous.msgpack"


def save_checkpoint(path: Path, agent: Any, updates: int, history: list[dict]) -> None:
    """Agent pytree, update count, evaluation history and the writing cnfrl version in one file, replaced
    atomically; the checkpoint it replaces is kept beside it (PREVIOUS) as the fallback if this one is damaged."""
    payload = serialization.msgpack_serialize(
        {
            "agent": serialization.to_state_dict(jax.device_get(agent)),
            "updates": updates,
            "history": json.dumps(history),
            "version": cnfrl.__version__,
        }
    )
    path = Path(path)
    if path.is_file():
        os.replace(path, path.with_name(PREVIOUS))
    write_atomically(path, payload)


def _checkpoint_payload(path: Path) -> dict:
    """The checkpoint's contents; a damaged file is a one-line error that names it and the way on."""
    path = Path(path)
    try:
        payload = serialization.msgpack_restore(path.read_bytes())
        if not isinstance(payload, dict) or not {"agent", "updates", "history"} <= set(payload):
            raise ValueError("not a cnfrl checkpoint")
        return payload
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise CnfrlError(f"{path}: truncated or corrupt ({str(error)[:80] or type(error).__name__}); {_way_on(path)}") from error


def _way_on(path: Path) -> str:
    """What a user can do about a damaged checkpoint: fall back to the previous one if it is intact, else start
    the run again."""
    previous = path.with_name(PREVIOUS)
    if path.name == PREVIOUS or not previous.is_file():
        return "start the run again: the same command with --overwrite instead of --resume"
    try:
        updates = checkpoint_updates(previous)
    except CnfrlError:  # the fallback is damaged too: nothing to resume from
        return "start the run again with --overwrite (the previous checkpoint is damaged too)"
    return (
        f"the previous checkpoint (update {updates}) is intact: mv {previous} {path} and run again with --resume, "
        "or start the run again with --overwrite"
    )


def checkpoint_updates(path: Path) -> int:
    """How many updates the checkpoint at `path` holds (without building an agent)."""
    return int(_checkpoint_payload(path)["updates"])


def checkpoint_history(path: Path) -> list[dict]:
    """The evaluation history the checkpoint at `path` holds (without building an agent)."""
    return list(json.loads(_checkpoint_payload(path)["history"]))


def check_extends(run_dir: Path, done: int, updates: int) -> None:
    """Refuse a resume that would end before the updates a run has already made."""
    if done > updates:
        raise CnfrlError(
            f"{run_dir}: the run has trained {done} updates already; a resume can only extend it "
            f"(loop.updates={updates} is fewer)"
        )


def load_checkpoint(path: Path, template: Any) -> tuple[Any, int, list[dict]]:
    """Restore what `save_checkpoint` wrote, shaped like `template` (a freshly created agent).

    A checkpoint that does not fit the agent (another algorithm, other network sizes, or the layout of another
    cnfrl version, which it names) is a one-line error; so is a damaged file.
    """
    payload = _checkpoint_payload(path)
    try:
        agent = serialization.from_state_dict(template, payload["agent"])
        shapes = [(jnp.shape(a), jnp.shape(b)) for a, b in zip(jax.tree.leaves(template), jax.tree.leaves(agent), strict=True)]
        if any(expected != found for expected, found in shapes):
            raise ValueError("array shapes differ from the agent's: its networks were built with other sizes")
    except (ValueError, KeyError, TypeError) as error:
        version = payload.get("version", "a version before 0.1.0 stamped its checkpoints")
        raise CnfrlError(
            f"{path}: not a checkpoint of this agent ({type(error).__name__}: {str(error)[:100]}); it was written by cnfrl "
            f"{version} (this is {cnfrl.__version__}) or for another algorithm: train into a new run directory"
        ) from error
    return agent, int(payload["updates"]), json.loads(payload["history"])
