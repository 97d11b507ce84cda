"""Flow pre-training by maximum likelihood, best epoch chosen by validation NLL, cached by dataset + config."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnfrl.checkpoint import load_params, save_params
from cnfrl.data.transitions import Transitions
from cnfrl.flows.flow import ConditionalFlow, FlowConfig
from cnfrl.flows.model import FlowModel
from cnfrl.progress import progress_bar


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation of the flow (the paper's values as defaults); epochs=None picks them from the dataset name."""

    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    batch_size: int = 1024
    grad_clip: float = 0.1
    validation_fraction: float = 0.1
    epochs: int | None = None
    sample_count: int = 100
    sample_states: int = 1000


def default_epochs(dataset_name: str) -> int:
    """The paper's epoch counts: 350 for medium-replay, 50 for expert-like data, 100 otherwise (medium)."""
    name = dataset_name.lower()
    if "replay" in name:
        return 350
    if "expert" in name:
        return 50
    return 100


@dataclass
class PretrainResult:
    """The flow of the best epoch and every epoch's metrics."""

    flow: FlowModel
    best_epoch: int
    metrics: list[dict[str, float]]
    cache_dir: Path | None = None


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction)))
    return order[n_val:], order[:n_val]


def _make_epoch(module: ConditionalFlow, optimizer: optax.GradientTransformation, batch_size: int, steps: int) -> Callable:
    def loss_fn(params, actions, states):
        return -module.apply(params, actions, states, method=ConditionalFlow.log_prob).mean()

    @jax.jit
    def epoch(params, opt_state, actions, states, key):
        order = jax.random.permutation(key, len(actions))[: steps * batch_size].reshape(steps, batch_size)

        def step(carry, index):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, actions[index], states[index])
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), order)
        return params, opt_state, losses.mean()

    return epoch


def _make_validation(module: ConditionalFlow, sample_count: int) -> Callable:
    @jax.jit
    def nll(params, actions, states):
        chunks = jnp.array_split(jnp.arange(len(actions)), max(1, len(actions) // 4096))
        total = sum(module.apply(params, actions[c], states[c], method=ConditionalFlow.log_prob).sum() for c in chunks)
        return -total / len(actions)

    @jax.jit
    def sample_errors(params, actions, states, key):
        repeated = jnp.repeat(states[None], sample_count, axis=0)
        samples = module.apply(params, key, repeated, method=ConditionalFlow.sample)
        errors = jnp.abs(samples - actions[None]).mean(-1)
        return errors.mean(), errors.min(0).mean(), samples.std(0).mean()

    return nll, sample_errors


def pretrain_flow(
    transitions: Transitions,
    flow_config: FlowConfig = FlowConfig(),
    config: PretrainConfig = PretrainConfig(),
    dataset_name: str = "",
    seed: int = 0,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    show_progress: bool = True,
) -> PretrainResult:
    """Fit the conditional flow to the dataset's (state, action) pairs and return the best validation epoch."""
    epochs = config.epochs if config.epochs is not None else default_epochs(dataset_name)
    stats = transitions.normalization()
    states = jnp.asarray(stats.normalize(transitions.observations))
    actions = jnp.asarray(transitions.actions)
    train_index, val_index = _split(len(actions), config.validation_fraction, seed)
    train_actions, train_states = actions[train_index], states[train_index]
    val_actions, val_states = actions[val_index], states[val_index]
    batch_size = min(config.batch_size, len(train_index))
    steps = max(1, len(train_index) // batch_size)
    module = ConditionalFlow(transitions.action_dim, flow_config)
    key = jax.random.PRNGKey(seed)
    key, init_key = jax.random.split(key)
    init_rows = np.random.default_rng(seed).choice(len(train_index), size=batch_size, replace=False)
    params = module.init(init_key, train_actions[init_rows], train_states[init_rows], method=ConditionalFlow.encode)
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.grad_clip),
        optax.adamw(config.learning_rate, weight_decay=config.weight_decay),
    )
    opt_state = optimizer.init(params)
    epoch_fn = _make_epoch(module, optimizer, batch_size, steps)
    nll_fn, sample_fn = _make_validation(module, config.sample_count)
    sample_rows = slice(0, min(config.sample_states, len(val_index)))
    best_params, best_nll, best_epoch, metrics = params, np.inf, 0, []
    with progress_bar() as bar:
        task = bar.add_task("flow pre-training", total=epochs, visible=show_progress)
        for epoch in range(1, epochs + 1):
            tick = time.perf_counter()
            key, epoch_key, sample_key = jax.random.split(key, 3)
            params, opt_state, train_nll = epoch_fn(params, opt_state, train_actions, train_states, epoch_key)
            val_nll = float(nll_fn(params, val_actions, val_states))
            seconds = time.perf_counter() - tick
            mean_error, min_error, sample_std = sample_fn(params, val_actions[sample_rows], val_states[sample_rows], sample_key)
            record = {
                "epoch": epoch,
                "train_nll": float(train_nll),
                "val_nll": val_nll,
                "sample_error_mean": float(mean_error),
                "sample_error_min": float(min_error),
                "sample_std": float(sample_std),
                "samples_per_second": steps * batch_size / seconds,
            }
            metrics.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if np.isfinite(val_nll) and val_nll < best_nll:
                best_params, best_nll, best_epoch = params, val_nll, epoch
            bar.update(task, completed=epoch, description=f"flow pre-training (val NLL {val_nll:.3f}, best {best_nll:.3f} @ {best_epoch})")
    flow = FlowModel(best_params, jnp.asarray(stats.mean), jnp.asarray(stats.std), transitions.action_dim, flow_config)
    return PretrainResult(flow, best_epoch, metrics)


def cache_key(fingerprint: str, flow_config: FlowConfig, config: PretrainConfig, epochs: int, seed: int) -> str:
    """Dataset fingerprint + every setting that changes the trained flow, hashed."""
    settings = json.dumps([fingerprint, dataclasses.asdict(flow_config), dataclasses.asdict(config), epochs, seed], sort_keys=True)
    return hashlib.blake2b(settings.encode(), digest_size=12).hexdigest()


def save_flow(result: PretrainResult, directory: Path) -> Path:
    """Write the flow (parameters, normalisation, config) and its epoch metrics to a directory."""
    directory = Path(directory)
    flow = result.flow
    save_params({"params": flow.params, "state_mean": flow.state_mean, "state_std": flow.state_std}, directory / "flow.npz")
    meta = {"action_dim": flow.action_dim, "flow_config": dataclasses.asdict(flow.config), "best_epoch": result.best_epoch}
    (directory / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in result.metrics))
    (directory / "flow.json").write_text(json.dumps(meta, indent=1) + "\n")
    return directory


def load_flow(directory: Path) -> PretrainResult:
    """Read a flow written by `save_flow`."""
    directory = Path(directory)
    meta = json.loads((directory / "flow.json").read_text())
    stored = load_params(directory / "flow.npz")
    params = jax.tree_util.tree_map(jnp.asarray, stored["params"])
    flow = FlowModel(params, jnp.asarray(stored["state_mean"]), jnp.asarray(stored["state_std"]), meta["action_dim"], FlowConfig(**meta["flow_config"]))
    metrics = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    return PretrainResult(flow, meta["best_epoch"], metrics, directory)


def pretrained_flow(
    transitions: Transitions,
    flow_config: FlowConfig,
    config: PretrainConfig,
    dataset_name: str,
    cache_root: Path,
    seed: int = 0,
    show_progress: bool = True,
) -> PretrainResult:
    """The flow for this dataset and configuration: from the cache when it was trained before, else trained now."""
    epochs = config.epochs if config.epochs is not None else default_epochs(dataset_name)
    directory = Path(cache_root) / cache_key(transitions.fingerprint, flow_config, config, epochs, seed)
    if (directory / "flow.json").is_file():
        return load_flow(directory)
    result = pretrain_flow(transitions, flow_config, dataclasses.replace(config, epochs=epochs), dataset_name, seed, show_progress=show_progress)
    save_flow(result, directory)
    result.cache_dir = directory
    return result
