"""Action-model pre-training (the flow by maximum likelihood, the PLAS VAE by its ELBO): best epoch chosen by
validation loss, cached by dataset fingerprint + model config + seed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnfrl.data.transitions import Transitions
from cnfrl.models import ActionModel, FlowConfig, FlowModel, model_class
from cnfrl.networks import Normalizer
from cnfrl.utils.files import exclusive, write_atomically
from cnfrl.utils.params import load_params, save_params
from cnfrl.utils.progress import progress_bar

MODEL_FILE = "model.json"


@dataclass(frozen=True)
class PretrainConfig:
    """Optimisation of the action model (the flow's paper values as defaults).

    epochs=None picks them from the dataset name; grad_clip=None turns clipping off.
    """

    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    batch_size: int = 1024
    grad_clip: float | None = 0.1
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
    """The model of the best epoch and every epoch's metrics."""

    model: ActionModel
    best_epoch: int
    metrics: list[dict[str, float]]
    cache_dir: Path | None = None


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction)))
    return order[n_val:], order[:n_val]


def _make_epoch(module: nn.Module, optimizer: optax.GradientTransformation, batch_size: int, steps: int) -> Callable:
    def loss_fn(params, actions, states, key):
        return module.apply(params, actions, states, key, method="loss").mean()

    @jax.jit
    def epoch(params, opt_state, actions, states, key):
        order_key, step_key = jax.random.split(key)
        order = jax.random.permutation(order_key, len(actions))[: steps * batch_size].reshape(steps, batch_size)

        def step(carry, inputs):
            params, opt_state = carry
            index, key = inputs
            loss, grads = jax.value_and_grad(loss_fn)(params, actions[index], states[index], key)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), (order, jax.random.split(step_key, steps)))
        return params, opt_state, losses.mean()

    return epoch


def _make_validation(module: nn.Module, sample_count: int) -> tuple[Callable, Callable]:
    @jax.jit
    def validation_loss(params, actions, states, key):
        chunks = jnp.array_split(jnp.arange(len(actions)), max(1, len(actions) // 4096))
        total = sum(module.apply(params, actions[c], states[c], key, method="loss").sum() for c in chunks)
        return total / len(actions)

    @jax.jit
    def sample_errors(params, actions, states, key):
        repeated = jnp.repeat(states[None], sample_count, axis=0)
        samples = module.apply(params, key, repeated, method="sample")
        errors = jnp.abs(samples - actions[None]).mean(-1)
        return errors.mean(), errors.min(0).mean(), samples.std(0).mean()

    return validation_loss, sample_errors


def _init_params(module: nn.Module, key: jax.Array, actions: jax.Array, states: jax.Array) -> Any:
    """Fresh parameters; a flow's ActNorm layers initialise from these (state, action) rows."""
    init_key, loss_key = jax.random.split(key)
    return module.init(init_key, actions, states, loss_key, method="loss")


def untrained_model(transitions: Transitions, kind: str, model_config: Any, seed: int = 0, rows: int = 1024) -> ActionModel:
    """A `kind` model at its initialisation on this dataset: for tests and speed benchmarks, not for agents."""
    stats = transitions.normalization()
    index = np.random.default_rng(seed).choice(len(transitions), size=min(rows, len(transitions)), replace=False)
    states = jnp.asarray(stats.normalize(transitions.observations[index]))
    module = model_class(kind).build(transitions.action_dim, model_config)
    params = _init_params(module, jax.random.PRNGKey(seed), jnp.asarray(transitions.actions[index]), states)
    return model_class(kind)(params, Normalizer.from_stats(stats), transitions.action_dim, model_config)


def pretrain_action_model(
    transitions: Transitions,
    model_type: type[ActionModel],
    model_config: Any,
    config: PretrainConfig = PretrainConfig(),
    dataset_name: str = "",
    seed: int = 0,
    show_progress: bool = True,
) -> PretrainResult:
    """Fit a flow or VAE to the dataset's (state, action) pairs and return its best validation epoch."""
    epochs = config.epochs if config.epochs is not None else default_epochs(dataset_name)
    stats = transitions.normalization()
    states = jnp.asarray(stats.normalize(transitions.observations))
    actions = jnp.asarray(transitions.actions)
    train_index, val_index = _split(len(actions), config.validation_fraction, seed)
    train_actions, train_states = actions[train_index], states[train_index]
    val_actions, val_states = actions[val_index], states[val_index]
    batch_size = min(config.batch_size, len(train_index))
    steps = max(1, len(train_index) // batch_size)
    module = model_type.build(transitions.action_dim, model_config)
    key, init_key, validation_key = jax.random.split(jax.random.PRNGKey(seed), 3)
    init_rows = np.random.default_rng(seed).choice(len(train_index), size=batch_size, replace=False)
    params = _init_params(module, init_key, train_actions[init_rows], train_states[init_rows])
    clip = [optax.clip_by_global_norm(config.grad_clip)] if config.grad_clip else []
    optimizer = optax.chain(*clip, optax.adamw(config.learning_rate, weight_decay=config.weight_decay))
    opt_state = optimizer.init(params)
    epoch_fn = _make_epoch(module, optimizer, batch_size, steps)
    loss_fn, sample_fn = _make_validation(module, config.sample_count)
    sample_rows = slice(0, min(config.sample_states, len(val_index)))
    label = f"{model_type.kind} pre-training"
    best_params, best_loss, best_epoch, metrics = params, np.inf, 0, []
    with progress_bar() as bar:
        task = bar.add_task(label, total=epochs, visible=show_progress)
        for epoch in range(1, epochs + 1):
            tick = time.perf_counter()
            key, epoch_key, sample_key = jax.random.split(key, 3)
            params, opt_state, train_loss = epoch_fn(params, opt_state, train_actions, train_states, epoch_key)
            val_loss = float(loss_fn(params, val_actions, val_states, validation_key))
            seconds = time.perf_counter() - tick
            mean_error, min_error, sample_std = sample_fn(params, val_actions[sample_rows], val_states[sample_rows], sample_key)
            record = {
                "epoch": epoch,
                "train_loss": float(train_loss),
                "val_loss": val_loss,
                "sample_error_mean": float(mean_error),
                "sample_error_min": float(min_error),
                "sample_std": float(sample_std),
                "samples_per_second": steps * batch_size / seconds,
            }
            metrics.append(record)
            if np.isfinite(val_loss) and val_loss < best_loss:
                best_params, best_loss, best_epoch = params, val_loss, epoch
            bar.update(
                task, completed=epoch, description=f"{label} (val loss {val_loss:.3f}, best {best_loss:.3f} @ {best_epoch})"
            )
    model = model_type(best_params, Normalizer.from_stats(stats), transitions.action_dim, model_config)
    return PretrainResult(model, best_epoch, metrics)


def pretrain_flow(
    transitions: Transitions,
    flow_config: FlowConfig = FlowConfig(),
    config: PretrainConfig = PretrainConfig(),
    dataset_name: str = "",
    seed: int = 0,
    show_progress: bool = True,
) -> PretrainResult:
    """Fit the conditional flow by maximum likelihood (the loss is the NLL); the best validation epoch wins."""
    return pretrain_action_model(transitions, FlowModel, flow_config, config, dataset_name, seed, show_progress=show_progress)


def cache_key(fingerprint: str, kind: str, model_config: Any, config: PretrainConfig, epochs: int, seed: int) -> str:
    """Dataset fingerprint + every setting that changes the trained model, hashed."""
    settings = json.dumps(
        [fingerprint, kind, dataclasses.asdict(model_config), dataclasses.asdict(config), epochs, seed], sort_keys=True
    )
    return hashlib.blake2b(settings.encode(), digest_size=12).hexdigest()


def save_model(result: PretrainResult, directory: Path, key: str | None = None) -> Path:
    """Write the model (parameters, normalisation, kind and config) and its epoch metrics to a directory, with
    the cache key it was trained for (so a copy of it, e.g. in a run directory, can stand in for the cache)."""
    directory = Path(directory)
    model = result.model
    save_params(
        {"params": model.params, "state_mean": model.normalizer.mean, "state_std": model.normalizer.std}, directory / "model.npz"
    )
    meta = {
        "kind": model.kind,
        "action_dim": model.action_dim,
        "config": dataclasses.asdict(model.config),
        "best_epoch": result.best_epoch,
        "cache_key": key,
    }
    write_atomically(directory / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in result.metrics))
    write_atomically(directory / MODEL_FILE, json.dumps(meta, indent=1) + "\n")
    return directory


def load_model(directory: Path) -> PretrainResult:
    """Read a model written by `save_model`."""
    directory = Path(directory)
    meta = json.loads((directory / MODEL_FILE).read_text())
    stored = load_params(directory / "model.npz")
    params = jax.tree_util.tree_map(jnp.asarray, stored["params"])
    kind = model_class(meta["kind"])
    config = kind.config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
    normalizer = Normalizer(jnp.asarray(stored["state_mean"]), jnp.asarray(stored["state_std"]))
    model = kind(params, normalizer, meta["action_dim"], config)
    metrics = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    return PretrainResult(model, meta["best_epoch"], metrics, directory)


def _cached_for(directory: Path) -> str | None:
    """The cache key a saved model was trained for; None where there is no model or it predates the key."""
    try:
        return json.loads((directory / MODEL_FILE).read_text()).get("cache_key")
    except (OSError, ValueError, AttributeError):
        return None


def copy_model(source: Path, directory: Path) -> None:
    """Copy a saved model's files with MODEL_FILE last, so an interrupted copy never reads as a model (a run
    directory's copy may later refill a cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir(), key=lambda p: p.name == MODEL_FILE):
        if path.is_file():
            shutil.copy2(path, directory / path.name)


def pretrained_model(
    transitions: Transitions,
    kind: str,
    model_config: Any,
    config: PretrainConfig,
    dataset_name: str,
    cache_root: Path,
    seed: int = 0,
    show_progress: bool = True,
    copies: Sequence[Path] = (),
) -> PretrainResult:
    """The `kind` ("flow" or "vae") model for this dataset and configuration: from the cache, else from one of
    `copies` written for the same cache key (a resumed run's own model/, carried to a machine with an empty
    cache), else trained now (one process at a time per cache entry: another that wants the same model waits
    and then loads it)."""
    epochs = config.epochs if config.epochs is not None else default_epochs(dataset_name)
    key = cache_key(transitions.fingerprint, kind, model_config, config, epochs, seed)
    directory = Path(cache_root) / key
    with exclusive(directory.with_name(directory.name + ".lock")):
        if not (directory / MODEL_FILE).is_file():
            copy = next((c for c in map(Path, copies) if _cached_for(c) == key), None)
            if copy is not None:
                copy_model(copy, directory)
        if (directory / MODEL_FILE).is_file():
            return load_model(directory)
        result = pretrain_action_model(
            transitions,
            model_class(kind),
            model_config,
            dataclasses.replace(config, epochs=epochs),
            dataset_name,
            seed,
            show_progress=show_progress,
        )
        save_model(result, directory, key)
    result.cache_dir = directory
    return result
