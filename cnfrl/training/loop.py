"""The training loop: chunks of jitted, scanned updates on device-resident data, periodic evaluation,
JSONL and TensorBoard metrics, atomic checkpoints, and resuming a killed run where it stopped."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from cnfrl.agents.base import Agent, Learner
from cnfrl.data.transitions import Transitions
from cnfrl.errors import CnfrlError
from cnfrl.training.checkpoints import CHECKPOINT, check_extends, load_checkpoint, save_checkpoint
from cnfrl.utils.progress import progress_bar

L = TypeVar("L", bound=Learner)
A = TypeVar("A", bound=Agent)
Evaluator = Callable[[Agent], dict[str, float]]

# A budget past this takes over half a day even on the fastest machine measured (cnfrl's CNF update at `paper` on
# one H200: benchmarks/results/gpu_h200); a larger one is a typo, refused before anything loads.
FASTEST_UPDATES_PER_SECOND = 1_809
MAX_UPDATES = 100_000_000
# Between evaluations a run also checkpoints when its last checkpoint is this old, so a run stopped or killed
# loses at most this much training, not a whole evaluation period (on a 2-core CPU, 10k cnf updates take 5-10 min).
CHECKPOINT_SECONDS = 300.0


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
            (
                self.updates <= MAX_UPDATES,
                f"loop.updates={self.updates:,}: about {_duration(self.updates / FASTEST_UPDATES_PER_SECOND)} "
                f"at the fastest rate measured ({FASTEST_UPDATES_PER_SECOND:,} updates/s, one H200); the paper "
                f"trains 1,000,000; ask for at most {MAX_UPDATES:,}",
            ),
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


def _duration(seconds: float) -> str:
    """Seconds in the largest unit that keeps the number readable (hours, days, years)."""
    for unit, size in (("years", 365 * 86_400), ("days", 86_400)):
        if seconds >= 2 * size:
            return f"{seconds / size:,.0f} {unit}"
    return f"{seconds / 3_600:,.0f} hours"


def device_batches(transitions: Transitions) -> dict[str, jax.Array]:
    """The arrays an update samples from, on the device once for the whole run (terminals as floats)."""
    return {
        "observations": jnp.asarray(transitions.observations),
        "actions": jnp.asarray(transitions.actions),
        "rewards": jnp.asarray(transitions.rewards),
        "next_observations": jnp.asarray(transitions.next_observations),
        "terminals": jnp.asarray(transitions.terminals, jnp.float32),
    }


def _scan_updates(
    agent: L, data: dict[str, jax.Array], key: jax.Array, updates: int, batch_size: int, size: jax.Array | None = None
) -> tuple[L, dict[str, jax.Array]]:
    rows = data["rewards"].shape[0] if size is None else size

    def step(agent, key):
        index = jax.random.randint(key, (batch_size,), 0, rows)
        return agent.update({k: v[index] for k, v in data.items()})

    agent, metrics = jax.lax.scan(step, agent, jax.random.split(key, updates))
    return agent, jax.tree_util.tree_map(jnp.mean, metrics)


@partial(jax.jit, static_argnames=("updates", "batch_size"), donate_argnums=(0,))
def run_updates(
    agent: L, data: dict[str, jax.Array], key: jax.Array, updates: int, batch_size: int, size: jax.Array | None = None
) -> tuple[L, dict[str, jax.Array]]:
    """`updates` agent updates on uniform minibatches, scanned in one compiled call; metrics averaged.

    `size` limits sampling to the first rows (a replay buffer being filled); by default all rows are data.
    """
    return _scan_updates(agent, data, key, updates, batch_size, size)


@partial(jax.jit, static_argnames=("updates", "batch_size"), donate_argnums=(0,))
def run_updates_seeds(
    agents: L, data: dict[str, jax.Array], keys: jax.Array, updates: int, batch_size: int
) -> tuple[L, dict[str, jax.Array]]:
    """`run_updates` for several seeds at once: agents stacked along a leading axis, one key each, the data
    shared; one compiled program whose every seed samples the minibatches its own run would."""
    return jax.vmap(lambda agent, key: _scan_updates(agent, data, key, updates, batch_size))(agents, keys)


def stack_agents(agents: list[A]) -> A:
    """Agents of one configuration (different seeds) as one pytree with a leading seed axis."""
    treedef = jax.tree.structure(agents[0])
    return jax.tree.unflatten(treedef, [jnp.stack(leaves) for leaves in zip(*(jax.tree.leaves(a) for a in agents), strict=True)])


def unstack_agents(agents: A, count: int) -> list[A]:
    """The inverse of `stack_agents`."""
    return [jax.tree.map(lambda leaf, i=i: leaf[i], agents) for i in range(count)]


@dataclass
class SeedRun:
    """One seed of a group that trains together: the fresh agent, its seed and its own run directory."""

    agent: Agent
    seed: int
    run_dir: Path


@dataclass
class _Member:
    agent: Agent
    seed: int
    run_dir: Path
    done: int
    history: list[dict]
    log: Any
    writer: Any
    q_limit: float | None
    saved_step: int | None
    saved_at: float

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT


def fit(
    agent: Agent,
    transitions: Transitions,
    loop: LoopConfig,
    run_dir: Path,
    evaluate: Evaluator,
    seed: int,
    resume: bool = False,
    show_progress: bool = True,
) -> tuple[Agent, list[dict]]:
    """Train one agent (`fit_seeds` with a single seed); returns it and its evaluation history."""
    [(agent, history)] = fit_seeds([SeedRun(agent, seed, Path(run_dir))], transitions, loop, evaluate, resume, show_progress)
    return agent, history


def fit_seeds(
    runs: list[SeedRun],
    transitions: Transitions,
    loop: LoopConfig,
    evaluate: Evaluator,
    resume: bool = False,
    show_progress: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> list[tuple[Agent, list[dict]]]:
    """Train agents of one configuration that differ only in seed, as one vmapped program; returns each agent
    with its evaluation history.

    Every seed keeps its own run directory (metrics.jsonl, TensorBoard, checkpoints, evaluations every
    `eval_every`). Every chunk's randomness comes from (seed, chunk index), so each seed samples what a run of
    its own would, and a run resumed from its last checkpoints ends with the parameters an uninterrupted one
    reaches (seeds cut off at different updates catch up first). With `loop.updates` 0 (an agent with nothing to
    train) each agent is evaluated and checkpointed once. The agents passed in are consumed (their device
    buffers are donated to the updates): use the returned ones. `on_progress(n)` is told of every n updates
    made (summed over seeds), for a display that spans several calls.
    """
    loop.check()
    data = device_batches(transitions)
    with ExitStack() as open_files, progress_bar() as bar:
        members = [_start(run, loop, resume, open_files, q_limit(run.agent, transitions)) for run in runs]
        task = bar.add_task(
            "training" if len(runs) == 1 else f"training {len(runs)} seeds",
            total=loop.updates * len(runs),
            completed=sum(m.done for m in members),
            visible=show_progress,
        )
        for member in members:
            if loop.updates == 0 and not member.history:
                member.history.append({"step": 0, **{f"eval_{k}": v for k, v in evaluate(member.agent).items()}})
                save_checkpoint(member.checkpoint, member.agent, 0, member.history)
        while any(m.done < loop.updates for m in members):
            done = min(m.done for m in members)
            behind = [m for m in members if m.done == done]
            for member, (agent, metrics) in zip(behind, _chunk(members, behind, data, loop, done), strict=True):
                member.agent, member.done = agent, done + loop.chunk
                _record(member, metrics, loop, evaluate, bar)
            if on_progress is not None:
                on_progress(loop.chunk * len(behind))
            bar.update(task, completed=sum(m.done for m in members), description=_description(members))
    return [(m.agent, m.history) for m in members]


def _start(run: SeedRun, loop: LoopConfig, resume: bool, open_files: ExitStack, limit: float | None) -> _Member:
    run_dir = Path(run.run_dir)
    agent, done, history, saved = run.agent, 0, list[dict](), None
    if resume and (run_dir / CHECKPOINT).is_file():
        agent, done, history = load_checkpoint(run_dir / CHECKPOINT, agent)
        check_extends(run_dir, done, loop.updates)
        saved = done
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / "metrics.jsonl"
    _truncate_metrics(metrics_path, done)
    log = open_files.enter_context(open(metrics_path, "a"))
    writer = _tensorboard(run_dir)
    open_files.callback(writer.close)
    return _Member(agent, run.seed, run_dir, done, history, log, writer, limit, saved, time.monotonic())


def _chunk(
    members: list[_Member], behind: list[_Member], data: dict[str, jax.Array], loop: LoopConfig, done: int
) -> list[tuple[Agent, dict]]:
    """One chunk of updates for the members `behind` (those at update `done`): one seed alone, else always the
    whole group vmapped, the others' results dropped, so a seed catching up after a resume computes in the same
    program, bit for bit, as it did in the uninterrupted group."""
    if len(members) == 1:
        key = jax.random.fold_in(jax.random.PRNGKey(members[0].seed), done // loop.chunk)
        return [run_updates(members[0].agent, data, key, loop.chunk, loop.batch_size)]
    keys = [jax.random.fold_in(jax.random.PRNGKey(m.seed), done // loop.chunk) for m in members]
    agents, metrics = run_updates_seeds(
        stack_agents([m.agent for m in members]), data, jnp.stack(keys), loop.chunk, loop.batch_size
    )
    every = unstack_agents(agents, len(members))
    chosen = {id(member) for member in behind}
    return [(every[i], {k: v[i] for k, v in metrics.items()}) for i, m in enumerate(members) if id(m) in chosen]


def _record(member: _Member, metrics: dict, loop: LoopConfig, evaluate: Evaluator, bar: Any) -> None:
    """Log a chunk's metrics; evaluate and checkpoint when it ends an evaluation period, and checkpoint when the
    last checkpoint is CHECKPOINT_SECONDS old. The metrics line is written before the checkpoint: a process
    killed between the two resumes from the previous checkpoint and drops the line again, where the other order
    would lose the line for good."""
    done = member.done
    record = {"step": done, **{k: float(v) for k, v in metrics.items()}}
    _stop_if_diverged(member.run_dir, member.agent, record, member.saved_step, member.q_limit)
    evaluating = done % loop.eval_every == 0 or done == loop.updates
    if evaluating:
        record.update({f"eval_{k}": v for k, v in evaluate(member.agent).items()})
    member.log.write(json.dumps(record, allow_nan=False) + "\n")
    member.log.flush()
    for key, value in record.items():
        if key != "step":
            member.writer.add_scalar(key, value, done)
    if evaluating:
        member.history.append(record)
        evaluated = ", ".join(f"{k[5:]} {v:.1f}" for k, v in record.items() if k.startswith("eval_"))
        bar.console.log(f"update {done} (seed {member.seed}): {evaluated}")
    if evaluating or time.monotonic() - member.saved_at >= CHECKPOINT_SECONDS:
        save_checkpoint(member.checkpoint, member.agent, done, member.history)
        member.saved_step, member.saved_at = done, time.monotonic()


def _description(members: list[_Member]) -> str:
    scores = []
    for member in members:
        last = member.history[-1] if member.history else {}
        scores.append(last.get("eval_score_mean", last.get("eval_return_mean", float("nan"))))
    shown = ", ".join(f"{score:.1f}" for score in scores)
    return f"training (last eval {shown})"


@jax.jit
def _all_finite(tree: Any) -> jax.Array:
    return jnp.all(
        jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)])
    )


Q_LIMIT_FACTOR = 10.0


def q_limit(agent: Agent, transitions: Transitions) -> float | None:
    """How large a critic's mean Q may grow before the run counts as diverged: ten times the largest |Q| the
    rewards allow, max |r| x reward scale / (1 - gamma). None for agents without critics; it is checked against
    the "q" metric, which the latent agents report."""
    gamma = getattr(getattr(agent, "config", None), "gamma", None)
    if gamma is None or gamma >= 1.0 or not hasattr(agent, "critic"):
        return None
    scale = float(getattr(agent, "reward_scale", 1.0))
    return Q_LIMIT_FACTOR * float(np.abs(transitions.rewards).max()) * scale / (1.0 - gamma) + 1.0


def _stop_if_diverged(run_dir: Path, agent: Agent, record: dict[str, float], saved: int | None, limit: float | None) -> None:
    """Stop a diverged run before it overwrites the last good checkpoint or writes NaN into the metrics: a metric
    or parameter that is not finite, or a mean Q past `limit` (critics that blow up while staying finite)."""
    bad = {name: value for name, value in record.items() if not math.isfinite(value)}
    q = record.get("q")
    if limit is not None and q is not None and math.isfinite(q) and abs(q) > limit:
        bad["q"] = q
    if not bad and bool(_all_finite(agent)):
        return
    what = ", ".join(f"{name} = {value:.3g}" for name, value in bad.items()) or "a parameter is not finite"
    if "q" in bad:
        what += f", past {limit:.3g}, ten times the largest value the rewards allow"
    kept = f"the last good checkpoint (update {saved}) is kept" if saved is not None else "no checkpoint was written"
    raise CnfrlError(
        f"{run_dir}: training diverged by update {record['step']} ({what}); {kept}; lower the learning rates "
        "(agent.critic_lr, agent.actor_lr) or check the dataset's rewards"
    )


def read_metrics(path: Path, fix: Callable[[int], str]) -> list[dict]:
    """The records of a metrics.jsonl, in order of their updates; a line that is not a record, or steps out of
    order (two writers), is a one-line error naming the file, the line and `fix(line)`, what to do about it."""
    records: list[dict] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        try:
            record = json.loads(line)
            step = int(record["step"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise CnfrlError(f"{path}: line {number} is not a metrics record ({type(error).__name__}); {fix(number)}") from error
        if records and step <= records[-1]["step"]:
            raise CnfrlError(
                f"{path}: line {number} logs update {step} after update {records[-1]['step']} (written twice?); {fix(number)}"
            )
        records.append(record)
    return records


def _truncate_metrics(path: Path, done: int) -> None:
    """Drop the records past the checkpoint a run resumes from (a killed run logged them, then lost them)."""
    if not path.is_file():
        return
    records = read_metrics(
        path,
        lambda line: (
            f"delete it and the lines after it, then resume (the checkpoint holds update {done}), or start again with --overwrite"
        ),
    )
    kept = [json.dumps(record, allow_nan=False) for record in records if record["step"] <= done]
    path.write_text("".join(line + "\n" for line in kept))


def _tensorboard(run_dir: Path):
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(run_dir / "tensorboard"))
