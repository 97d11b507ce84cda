"""The `cnfrl` command: thin wrappers that parse options, call the library and print its results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from cnfrl.errors import CnfrlError

app = typer.Typer(help="Offline RL in the latent space of normalizing flows.", no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="Inspect and convert offline datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
console = Console()
_state = {"debug": False}

EnvOption = Annotated[Optional[str], typer.Option("--env", help="Gymnasium id the data must fit (default: the dataset's own env_id).")]
RescaleOption = Annotated[bool, typer.Option("--rescale-actions", help="Map actions from the environment's bounds to [-1, 1].")]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False) -> None:
    _state["debug"] = debug


@data_app.command("info")
def data_info(
    source: Annotated[str, typer.Argument(help="A .hdf5/.npz path, a Minari dataset directory or id, or a built-in name.")],
    env: EnvOption = None,
    rescale_actions: RescaleOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Summarise a dataset: size, episodes, returns, action range, dimensions, ends, reference scores."""
    from cnfrl.data.resolve import load_dataset
    from cnfrl.data.summary import summarize

    summary = summarize(load_dataset(source, env_id=env, rescale_actions=rescale_actions), source)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(title=f"dataset {source}", show_header=False)
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


@data_app.command("convert")
def data_convert(
    source: Annotated[str, typer.Argument(help="Dataset to read (path, Minari id or built-in name).")],
    destination: Annotated[str, typer.Argument(help="OUT.hdf5 (D4RL layout), OUT.npz, or a Minari id such as mine/hopper-v0.")],
    root: Annotated[Optional[Path], typer.Option(help="Directory for a Minari output (default: the Minari data path).")] = None,
    env: EnvOption = None,
    rescale_actions: RescaleOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Convert a dataset between D4RL HDF5, NPZ and Minari, validating it on the way."""
    from cnfrl.data import load_dataset, write_d4rl, write_minari, write_npz
    from cnfrl.data.d4rl import HDF5_SUFFIXES

    transitions = load_dataset(source, env_id=env, rescale_actions=rescale_actions)
    suffix = Path(destination).suffix
    if suffix in HDF5_SUFFIXES:
        written = write_d4rl(transitions, Path(destination), overwrite=overwrite)
    elif suffix == ".npz":
        written = write_npz(transitions, Path(destination), overwrite=overwrite)
    else:
        written = write_minari(transitions, destination, root=root, overwrite=overwrite)
    console.print(f"wrote {len(transitions)} transitions to {written}")


@app.command("collect")
def collect(
    name: Annotated[str, typer.Argument(help="TASK-LEVEL, e.g. hopper-random.")],
    steps: Annotated[int, typer.Option(help="Environment steps to collect (D4RL uses 1,000,000).")] = 100_000,
    seed: Annotated[int, typer.Option(help="Seed for the environment and the policy.")] = 0,
    root: Annotated[Optional[Path], typer.Option(help="Directory for the Minari dataset (default: the Minari data path).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset.")] = False,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Do nothing if the dataset already exists.")] = False,
) -> None:
    """Generate a D4RL-style dataset on a Gymnasium environment and write it as a Minari dataset."""
    from cnfrl.collect.recipes import collect_dataset
    from cnfrl.data.minari import minari_data_dir, minari_root
    from cnfrl.data.resolve import builtin_dataset_id

    dataset_id = builtin_dataset_id(name)
    existing = (root or minari_root()) / dataset_id if dataset_id else None
    if exist_ok and existing is not None and minari_data_dir(existing) is not None and not overwrite:
        console.print(f"{name} already exists at {existing}; keeping it")
        return
    written = collect_dataset(name, steps=steps, seed=seed, root=root, overwrite=overwrite)
    console.print(f"wrote {name} to {written}")


def main() -> None:
    """Entry point: run the CLI, turning library errors into one-line messages and a non-zero exit."""
    try:
        app(standalone_mode=False)
    except CnfrlError as error:
        if _state["debug"]:
            raise
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        Console(stderr=True).print("aborted")
        sys.exit(130)
    except Exception as error:
        import click

        if isinstance(error, click.ClickException):
            error.show()
            sys.exit(error.exit_code)
        raise
