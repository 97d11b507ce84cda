"""Minari datasets: read from the local Minari data path or any directory, written with Minari itself."""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from cnfrl.data.flat import RawDataset
from cnfrl.data.metadata import stored_metadata, to_jsonable
from cnfrl.data.transitions import Transitions
from cnfrl.errors import dataset_error
from cnfrl.utils.files import refuse_overwrite, staging_dir

CNFRL_METADATA_KEY = "cnfrl"
MINARI_METADATA_KEYS = ("dataset_id", "algorithm_name", "description", "ref_min_score", "ref_max_score")


def minari_root() -> Path:
    """The local Minari data path: $MINARI_DATASETS_PATH, else ~/.minari/datasets (as Minari itself decides)."""
    return Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets")).expanduser().absolute()


def minari_data_dir(path: Path) -> Path | None:
    """The `data` directory of a Minari dataset given its directory or its `data` directory; None if neither."""
    for candidate in (path, path / "data"):
        if (candidate / "metadata.json").is_file():
            return candidate
    return None


def read_minari(path: Path) -> RawDataset:
    """Read every episode of a Minari dataset directory into flat arrays with explicit episode ends."""
    import minari

    data_dir = minari_data_dir(Path(path))
    if data_dir is None:
        raise dataset_error(path, "is not a Minari dataset directory (no data/metadata.json)", "pass the dataset's directory")
    try:
        dataset = minari.MinariDataset(data_dir)
    except (ValueError, KeyError, OSError) as error:
        raise dataset_error(path, f"cannot be opened as a Minari dataset ({error})", "re-create it with Minari >= 0.5") from None
    observation_space, action_space = dataset.observation_space, dataset.action_space
    if not isinstance(action_space, gym.spaces.Box):
        raise dataset_error(path, f"has {type(action_space).__name__} actions", "cnfrl needs continuous (Box) actions")
    columns: dict[str, list[np.ndarray]] = {
        key: [] for key in ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts", "episode_ends")
    }
    for episode in dataset.iterate_episodes():
        observations = _flatten(episode.observations, observation_space, path)
        steps = len(episode.rewards)
        if steps == 0:
            continue
        ends = np.zeros(steps, bool)
        ends[-1] = True
        columns["observations"].append(observations[:-1])
        columns["next_observations"].append(observations[1:])
        columns["actions"].append(np.asarray(episode.actions).reshape(steps, -1))
        columns["rewards"].append(np.asarray(episode.rewards).reshape(steps))
        columns["terminals"].append(np.asarray(episode.terminations).reshape(steps))
        columns["timeouts"].append(np.asarray(episode.truncations).reshape(steps))
        columns["episode_ends"].append(ends)
    if not columns["observations"]:
        raise dataset_error(path, "the dataset holds no transitions", "point to a dataset with at least one step")
    arrays = {key: np.concatenate(parts) for key, parts in columns.items()}
    return RawDataset(arrays, _metadata(dataset))


def _flatten(observations: Any, space: gym.Space, path: Path) -> np.ndarray:
    if isinstance(space, gym.spaces.Box):
        observations = np.asarray(observations)
        return observations.reshape(len(observations), -1)
    if isinstance(space, gym.spaces.Dict):
        return np.concatenate([_flatten(observations[key], sub, path) for key, sub in space.spaces.items()], axis=1)
    raise dataset_error(path, f"has {type(space).__name__} observations", "cnfrl reads Box or Dict-of-Box observations")


def _metadata(dataset: Any) -> dict[str, Any]:
    raw = dataset.storage.metadata
    metadata = dict(to_jsonable(raw.get(CNFRL_METADATA_KEY, {})))
    metadata.update({key: to_jsonable(raw[key]) for key in MINARI_METADATA_KEYS if raw.get(key) is not None})
    if dataset.env_spec is not None:
        metadata["env_id"] = dataset.env_spec.id
    return metadata


@contextlib.contextmanager
def _minari_path(root: Path) -> Iterator[None]:
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def write_minari(transitions: Transitions, dataset_id: str, root: Path | None = None, overwrite: bool = False) -> Path:
    """Write Transitions as the Minari dataset `dataset_id` under `root` (default: the Minari data path).

    Episodes follow `episode_ends`; ref_min_score / ref_max_score go where Minari keeps them, every other
    metadata entry under the `cnfrl` key. The dataset appears in one rename, never half-written.
    """
    import minari
    from minari.data_collector.episode_buffer import EpisodeBuffer

    if not dataset_id.rsplit("-v", 1)[-1].isdigit():
        raise dataset_error(dataset_id, "is not a Minari dataset id", "use the form namespace/name-v0")
    root = Path(root).expanduser().absolute() if root is not None else minari_root()
    target = root / dataset_id
    refuse_overwrite(target, overwrite)
    root.mkdir(parents=True, exist_ok=True)
    inside_episodes = ~transitions.episode_ends[:-1]
    jumps = np.any(transitions.next_observations[:-1] != transitions.observations[1:], axis=1) & inside_episodes
    if jumps.any():
        raise dataset_error(
            transitions.source,
            f"next_observations[{int(np.argmax(jumps))}] is not the next row's observation inside an episode",
            "mark that row in episode_ends (Minari stores one observation sequence per episode)",
        )
    metadata = stored_metadata(transitions.metadata)
    env_id = metadata.get("env_id")
    buffers = [
        EpisodeBuffer(
            id=index,
            observations=np.concatenate([transitions.observations[rows], transitions.next_observations[rows][-1:]]),
            actions=transitions.actions[rows],
            rewards=transitions.rewards[rows],
            terminations=transitions.terminals[rows],
            truncations=transitions.timeouts[rows],
            infos={},
        )
        for index, rows in enumerate(_episode_slices(transitions))
    ]
    has_refs = metadata.get("ref_min_score") is not None and metadata.get("ref_max_score") is not None
    staging = staging_dir(root, ".cnfrl-minari-")
    try:
        with _minari_path(staging), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=buffers,
                env=env_id if env_id in gym.registry else None,
                observation_space=gym.spaces.Box(-np.inf, np.inf, (transitions.observation_dim,), np.float32),
                action_space=gym.spaces.Box(-1.0, 1.0, (transitions.action_dim,), np.float32),
                algorithm_name=str(metadata.get("algorithm_name", "unknown")),
                author="cnfrl",
                description=str(metadata.get("description", f"written by cnfrl from {transitions.source}")),
                ref_min_score=metadata.get("ref_min_score") if has_refs else None,
                ref_max_score=metadata.get("ref_max_score") if has_refs else None,
            )
            dataset.storage.update_metadata({CNFRL_METADATA_KEY: metadata})
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / dataset_id, target)
        for namespace_file in staging.rglob("namespace_metadata.json"):
            destination = root / namespace_file.relative_to(staging)
            if not destination.exists():
                shutil.copyfile(namespace_file, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _episode_slices(transitions: Transitions) -> list[slice]:
    starts = transitions.episode_starts()
    stops = np.append(starts[1:], len(transitions))
    return [slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
