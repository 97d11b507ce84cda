"""The `cnfrl` command: thin wrappers that parse options, call the library and print its results."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.console import Console
from rich.table import Table

from cnfrl.errors import CnfrlError

_option_type = typer.core.TyperOption.display_type_rich
# Typer 0.29 prints a flag's type ("<bool>") in --help as if the flag took a value; show flags bare, as click does.
typer.core.TyperOption.display_type_rich = lambda self, ctx: "" if self.is_flag else _option_type(self, ctx)  # type: ignore[method-assign]

app = typer.Typer(help="Offline RL in the latent space of normalizing flows.", no_args_is_help=True, add_completion=False)
data_app = typer.Typer(help="Inspect and convert offline datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
behaviour_app = typer.Typer(help="Train the behaviour policies that generate datasets.", no_args_is_help=True)
app.add_typer(behaviour_app, name="behaviour")
console = Console()
_state = {"debug": False}

EnvOption = Annotated[
    str | None, typer.Option("--env", help="Gymnasium id the data must fit (default: the dataset's own env_id).")
]
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
    else:
        _print_summary(summary)


def _print_summary(summary: dict) -> None:
    table = Table(title=f"dataset {summary['source']}", show_header=False)
    for key, value in summary.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)


@data_app.command("convert")
def data_convert(
    source: Annotated[str, typer.Argument(help="Dataset to read (path, Minari id or built-in name).")],
    destination: Annotated[str, typer.Argument(help="OUT.hdf5 (D4RL layout), OUT.npz, or a Minari id such as mine/hopper-v0.")],
    root: Annotated[Path | None, typer.Option(help="Directory for a Minari output (default: the Minari data path).")] = None,
    env: EnvOption = None,
    rescale_actions: RescaleOption = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    """Convert a dataset between D4RL HDF5, NPZ and Minari, validating it on the way."""
    from cnfrl.data import load_dataset, save_dataset

    transitions = load_dataset(source, env_id=env, rescale_actions=rescale_actions)
    written = save_dataset(transitions, destination, root=root, overwrite=overwrite)
    console.print(f"wrote {len(transitions)} transitions to {written}")


@app.command("collect")
def collect(
    name: Annotated[str, typer.Argument(help="TASK-LEVEL (hopper-medium, walker2d-expert, ...) or maze2d-MAZE[-dense].")],
    steps: Annotated[int | None, typer.Option(help="Environment steps (default: D4RL's size, 1M; maze2d 1M/2M/4M).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the environment and the policy.")] = 0,
    root: Annotated[Path | None, typer.Option(help="Directory for the Minari dataset (default: the Minari data path).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing dataset.")] = False,
    exist_ok: Annotated[bool, typer.Option("--exist-ok", help="Do nothing if the dataset already exists.")] = False,
) -> None:
    """Generate a D4RL-style dataset on a Gymnasium environment and write it as a Minari dataset."""
    from cnfrl.collect.recipes import collect_dataset
    from cnfrl.data.builtin import parse_builtin
    from cnfrl.data.minari import minari_data_dir
    from cnfrl.data.resolve import load_dataset
    from cnfrl.data.summary import summarize

    builtin = parse_builtin(name)
    existing = builtin.path(root) if builtin else None
    if exist_ok and existing is not None and minari_data_dir(existing) is not None and not overwrite:
        console.print(f"{name} already exists at {existing}; keeping it")
        return
    written = collect_dataset(name, steps=steps, seed=seed, root=root, overwrite=overwrite)
    console.print(f"wrote {name} to {written}")
    _print_summary(summarize(load_dataset(written), name))


@behaviour_app.command("train")
def behaviour_train(
    task: Annotated[str, typer.Argument(help="hopper, halfcheetah, walker2d or ant.")],
    steps: Annotated[int, typer.Option(help="SAC environment steps.")] = 400_000,
    seed: Annotated[int, typer.Option(help="Seed for SAC, the environment and the evaluations.")] = 0,
    medium_return: Annotated[
        float | None, typer.Option(help="Return the medium policy is stopped at (default: D4RL's medium level).")
    ] = None,
    eval_every: Annotated[int, typer.Option(help="Steps between checkpoints (each evaluated on 10 episodes).")] = 10_000,
    out: Annotated[
        Path | None, typer.Option(help="Directory for the kept actors (default: the package's policies/TASK).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace behaviour policies already in the directory.")] = False,
) -> None:
    """Train SAC on a task and keep its medium and expert actors for `cnfrl collect`."""
    from cnfrl.collect.behaviour import train_behaviour
    from cnfrl.collect.sac import SACConfig
    from cnfrl.data.builtin import MUJOCO_TASKS

    if task not in MUJOCO_TASKS:
        raise CnfrlError(f"{task}: unknown task; choose one of {', '.join(MUJOCO_TASKS)}")
    command = " ".join(["cnfrl", *sys.argv[1:]])
    config = SACConfig(eval_every=eval_every)
    record = train_behaviour(task, MUJOCO_TASKS[task], steps, seed, medium_return, out, config, command, overwrite=overwrite)
    console.print(
        f"{task}: medium at step {record['medium']['step']} (return {record['medium']['eval_return']:.0f}), "
        f"expert at step {record['expert']['step']} (return {record['expert']['eval_return']:.0f}); "
        f"references: random {record['ref_min_score']:.1f}, expert {record['ref_max_score']:.1f}"
    )


DatasetArgument = Annotated[
    str | None, typer.Argument(help="Dataset (path, Minari id, built-in name); default: a generated 100k-step hopper-medium.")
]
PresetOption = Annotated[
    str, typer.Option("--preset", help="paper (the reference hyper-parameters) or cpu-quick (sized for a 2-core CPU).")
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting, e.g. --set loop.batch_size=256 --set loop.updates=5000.")
]
# Every registry name, kept here rather than read from the registry so that `--help` does not import JAX; a test
# checks the list against cnfrl.experiments.registry.ALGORITHMS.
ALGO_HELP = (
    "Algorithm (`cnfrl algos` says what each is): cnf (the default, the paper's), cnf-td3bc, cnf-steady, plas, lapo, "
    "bc, td3bc, iql, bc-flow, or an ablation: cnf-normal, cnf-normal-unbounded, cnf-vae, cnf-plas-objective."
)
AlgoOption = Annotated[str | None, typer.Option("--algo", help=ALGO_HELP)]
SeedOption = Annotated[int | None, typer.Option(help="Seed for everything (data sampling, networks, evaluation).")]
SeedsOption = Annotated[
    int,
    typer.Option(
        "--seeds",
        help="Train N seeds (--seed, --seed+1, ...) as one vmapped program, each in its own run directory "
        "(--run-dir DIR: DIR/sSEED).",
    ),
]
RunDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Run directory (default: runs/DATASET-ALGO-PRESET-sSEED, plus a hash of the --set values that change the run)."
    ),
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace the run already in the run directory.")]
ResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume", help="Continue the run directory's run from its last checkpoint (with --set loop.updates=N: train it longer)."
    ),
]


def _config(dataset: str | None, algo: str, preset_name: str, seed: int | None, overrides: list[str] | None, env: str | None):
    from cnfrl.experiments.runs import build_config

    return build_config(algo, preset_name, dataset, overrides or [], seed, env)


@app.command("pretrain")
def pretrain(
    dataset: DatasetArgument = None,
    algo: AlgoOption = None,
    preset_name: PresetOption = "cpu-quick",
    seed: SeedOption = None,
    overrides: SetOption = None,
    env: EnvOption = None,
) -> None:
    """Pre-train the algorithm's action model (the flow; PLAS's VAE) on a dataset, cached by fingerprint + config."""
    from cnfrl.experiments.pipeline import load_run_data, pretrain_stage

    config = _config(dataset, algo or "cnf", preset_name, seed, overrides, env)
    result = pretrain_stage(config, load_run_data(config), None)
    if result is None:
        raise CnfrlError(f"{config.algo} pre-trains no action model; `cnfrl train --algo {config.algo}` trains it directly")
    loss = "NLL" if result.model.kind == "flow" else "loss"
    table = Table(title=f"{result.model.kind} pre-training (best epoch {result.best_epoch}, cached in {result.cache_dir})")
    for column in ("epoch", f"train {loss}", f"val {loss}", "sample err mean", "sample err min", "sample std"):
        table.add_column(column, justify="right")
    for m in result.metrics:
        table.add_row(
            str(m["epoch"]),
            *(f"{m[k]:.3f}" for k in ("train_loss", "val_loss", "sample_error_mean", "sample_error_min", "sample_std")),
        )
    console.print(table)


def _run_dirs(configs, overrides: list[str], run_dir: Path | None) -> list[Path]:
    """The run directory of each seed: --run-dir itself for one seed, DIR/sSEED for several, else the default name."""
    from cnfrl.experiments.runs import run_dir_for

    if run_dir is not None:
        return [run_dir] if len(configs) == 1 else [run_dir / f"s{c.seed}" for c in configs]
    return [run_dir_for(c, overrides) for c in configs]


def _resumed(directory: Path, config, saved, algo: str | None, dataset: str | None, seed: int | None):
    """The saved config of the run to resume (refusing an --algo, --seed or dataset that differs from it), or
    `config` when the directory holds no run yet."""
    if saved is None:
        return config
    given = {
        "--algo": (algo, saved.algo),
        "--seed": (None if seed is None else config.seed, saved.seed),
        "DATASET": (dataset, saved.dataset),
    }
    differ = [f"{flag} {new} (the run has {old})" for flag, (new, old) in given.items() if new is not None and new != old]
    if differ:
        raise CnfrlError(
            f"{directory}: resuming keeps the run's own settings, not {', '.join(differ)}; drop them or use a new --run-dir"
        )
    return saved


def _training_command(then_evaluate: bool):
    """The body shared by `cnfrl train` and `cnfrl run`; `run` also evaluates and writes the report."""

    def command(
        dataset: DatasetArgument = None,
        algo: AlgoOption = None,
        preset_name: PresetOption = "cpu-quick",
        seed: SeedOption = None,
        overrides: SetOption = None,
        run_dir: RunDirOption = None,
        resume: ResumeOption = False,
        overwrite: OverwriteOption = False,
        env: EnvOption = None,
        seeds: SeedsOption = 1,
    ) -> None:
        from cnfrl.experiments.pipeline import resumed_config, run_seeds, train_seeds
        from cnfrl.experiments.runs import seed_configs

        configs = seed_configs(_config(dataset, algo or "cnf", preset_name, seed, overrides, env), seeds)
        directories = _run_dirs(configs, overrides or [], run_dir)
        if resume:
            configs = [
                _resumed(d, c, resumed_config(d, overrides or []), algo, dataset, seed)
                for d, c in zip(directories, configs, strict=True)
            ]
        if then_evaluate:
            for summary, run_dir_of_seed in zip(
                run_seeds(configs, directories, resume, overwrite=overwrite), directories, strict=True
            ):
                _print_eval(summary, run_dir_of_seed)
        else:
            results, _, _ = train_seeds(configs, directories, resume=resume, overwrite=overwrite)
            for (_, history), run_dir_of_seed in zip(results, directories, strict=True):
                console.print(f"trained {history[-1]['step'] if history else 0} updates into {run_dir_of_seed}")

    return command


app.command(
    "train",
    help="Train an agent (CNF by default; pre-training or reusing its action model) with periodic evaluation and checkpoints.",
)(_training_command(then_evaluate=False))
app.command("run", help="The whole pipeline: data (generated if none named), action model, agent, evaluation, report.md.")(
    _training_command(then_evaluate=True)
)


@app.command("algos")
def algos(
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print the docs page (docs/algorithms.md).")] = False,
) -> None:
    """List the algorithms `--algo` takes, with what each is."""
    from cnfrl.experiments.registry import ALGORITHMS, markdown

    if as_markdown:
        print(markdown())
        return

    table = Table(title="algorithms", show_lines=True)
    table.add_column("name")
    table.add_column("action model")
    table.add_column("what it is")
    for spec in ALGORITHMS.values():
        table.add_row(spec.name, spec.action_model or "-", spec.summary)
    console.print(table)


@app.command("evaluate")
def evaluate_run(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `cnfrl train`.")],
    episodes: Annotated[int | None, typer.Option(help="Evaluation episodes (default: the run's).")] = None,
    policy: Annotated[
        Path | None, typer.Option("--policy", help="Evaluate this exported policy (.onnx or .npz) instead of the checkpoint.")
    ] = None,
) -> None:
    """Evaluate a run's last checkpoint and BC through its action model; write eval.json and report.md.
    With --policy, evaluate an exported policy file with the run's evaluation seeds and print it beside eval.json."""
    from cnfrl.experiments.pipeline import evaluate_exported, evaluate_stage
    from cnfrl.experiments.run_report import metric_unit, summary_metric

    if policy is None:
        _print_eval(evaluate_stage(run_dir, episodes), run_dir)
        return
    result = evaluate_exported(run_dir, policy, episodes)
    metric = summary_metric({"final": result})
    table = Table(title=f"{policy}: {metric_unit(metric)}")
    for column in ("policy", "mean", "std"):
        table.add_column(column, justify="right" if column != "policy" else "left")
    table.add_row("exported", f"{result[metric]:.2f}", f"{result[metric.replace('mean', 'std')]:.2f}")
    saved = Path(run_dir) / "eval.json"
    if saved.is_file():
        final = json.loads(saved.read_text())["final"]
        table.add_row(
            "the run's final evaluation (eval.json)", f"{final[metric]:.2f}", f"{final[metric.replace('mean', 'std')]:.2f}"
        )
    console.print(table)
    print(json.dumps({"exported": result}))


@app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with a checkpoint.")],
    fmt: Annotated[str, typer.Option("--format", help="onnx (needs cnfrl\\[export]) or npz (runs with NumPy alone).")] = "onnx",
    out: Annotated[Path | None, typer.Option(help="Output file (default: RUN_DIR/policy.onnx or policy.npz).")] = None,
) -> None:
    """Write the run's deterministic policy (observation -> action, normalisation included) as ONNX or NumPy."""
    from cnfrl.experiments.export import export_run

    path = export_run(run_dir, fmt, out)  # type: ignore[arg-type]
    console.print(f"wrote {path}")


def report(
    run_dirs: Annotated[
        list[Path] | None, typer.Argument(help="Finished run directories (e.g. several seeds of several algorithms).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where report.md, scores.csv and the plots go.")] = Path("report"),
    scores: Annotated[
        list[Path] | None,
        typer.Option(help="An earlier report's scores.csv whose runs join these (their directories may be gone); repeatable."),
    ] = None,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            help="Also score every run at these budgets (updates), e.g. --at 20000,50000,100000: each run's last "
            "evaluations within the budget, tables, IQM and a plot against updates.",
        ),
    ] = None,
) -> None:
    """Runs side by side: scores per dataset and algorithm (mean +- sample std over seeds), their spread, aggregates
    with bootstrap intervals, learning curves, action-model diagnostics, and with --at the same at shorter budgets."""
    from cnfrl.experiments.report import write_grid_report

    provenance = _provenance()
    _print_grid_report(write_grid_report(run_dirs or [], out, scores or [], _budgets(at or []), provenance))


def _provenance() -> dict[str, str]:
    """When, from which commit and by which command a report was made (the head of its scores.csv)."""
    import datetime
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "not in a git checkout"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return {"date": date, "commit": commit, "command": " ".join(["cnfrl", *sys.argv[1:]])}


def _budgets(values: list[str]) -> list[int]:
    """The budgets of --at (repeated, comma-separated or both), as sorted positive integers."""
    budgets = set()
    for text in (part.strip().replace("_", "") for value in values for part in value.split(",")):
        if not text.isdigit() or int(text) <= 0:
            raise CnfrlError(f"--at {text}: a budget is a positive number of updates, e.g. --at 20000,50000")
        budgets.add(int(text))
    return sorted(budgets)


def _print_grid_report(path: Path) -> None:
    """The tables of a grid report (up to its plots), and where its files are."""
    print(path.read_text().split("## Learning curves")[0])
    console.print(f"report: {path}, per-run scores: {path.parent / 'scores.csv'}, curves: {path.parent}/curves-*.png")


app.command("report")(report)


@app.command("bench")
def bench(
    grid_file: Annotated[
        Path | None, typer.Argument(help="YAML grid file (keys algos, datasets, seeds, first_seed, preset, set, out).")
    ] = None,
    algos: Annotated[list[str] | None, typer.Option("--algo", help="An algorithm of the grid; repeat for several.")] = None,
    datasets: Annotated[list[str] | None, typer.Option("--dataset", help="A dataset of the grid; repeat for several.")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Seeds per algorithm and dataset, vmapped together [3].")] = None,
    first_seed: Annotated[int | None, typer.Option("--seed", help="The first seed [0].")] = None,
    preset_name: Annotated[str | None, typer.Option("--preset", help="paper or cpu-quick \\[cpu-quick].")] = None,
    overrides: SetOption = None,
    out: Annotated[Path | None, typer.Option(help="Directory for runs/ and the report \\[bench].")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Run each group of seeds as a Ray task (Ray started here).")] = False,
    ray_address: Annotated[
        str | None, typer.Option(help="Run on this Ray cluster (e.g. auto, or HEAD_IP:6379) instead of starting Ray here.")
    ] = None,
    task_cpus: Annotated[float, typer.Option(help="CPUs each Ray task asks for.")] = 1.0,
    task_gpus: Annotated[float, typer.Option(help="GPUs each Ray task asks for.")] = 0.0,
    retries: Annotated[int, typer.Option(help="Times Ray restarts a task whose worker died (from its checkpoints).")] = 3,
) -> None:
    """Train a grid of algorithms x datasets x seeds (reusing finished runs, resuming cut-off ones) and report it.

    Flags override the grid file; --set values add to its `set` list. With --ray or --ray-address the groups
    train in parallel as Ray tasks (pip install 'cnfrl\\[ray]'); the run directories must then be on a file
    system every node sees at the same path.
    """
    from cnfrl.experiments.grid import Grid, GridFile, RayCluster, load_grid_file, run_grid

    file = load_grid_file(grid_file) if grid_file is not None else GridFile()
    grid = Grid(
        algos=tuple(algos or file.algos),
        datasets=tuple(datasets or file.datasets),
        seeds=seeds if seeds is not None else file.seeds or 3,
        first_seed=first_seed if first_seed is not None else file.first_seed or 0,
        preset=preset_name or file.preset or "cpu-quick",
        overrides=(*file.set, *(overrides or [])),
        out=out or Path(file.out or "bench"),
    )
    cluster = None
    if ray or ray_address:
        from cnfrl.experiments.ray_grid import import_ray

        import_ray()
        cluster = RayCluster(address=ray_address, cpus_per_task=task_cpus, gpus_per_task=task_gpus, max_retries=retries)
    path, failures = run_grid(grid, cluster=cluster)
    _print_grid_report(path)
    if failures:
        raise CnfrlError(f"{len(failures)} of the grid's groups failed (the report holds the others): " + "; ".join(failures))


def _print_eval(summary: dict, run_dir: Path) -> None:
    from cnfrl.experiments.run_report import metric_unit, result_rows, summary_metric

    unit = metric_unit(summary_metric(summary))
    table = Table(title=f"{summary['dataset']}: {unit} over {summary['eval_episodes']} episodes")
    table.add_column("policy")
    table.add_column("mean", justify="right")
    table.add_column("std", justify="right")
    for name, mean, std in result_rows(summary):
        table.add_row(name, f"{mean:.1f}", "" if std is None else f"{std:.1f}")
    console.print(table)
    console.print(f"report: {Path(run_dir) / 'report.md'}")


def main() -> None:
    """Entry point: run the CLI, turning library and file-system errors into one-line messages and a non-zero
    exit, and Ctrl-C into a hint on how to go on."""
    try:
        app()
    except CnfrlError as error:
        _fail(error, f"{error}")
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        _fail(error, f"{where}{error.strerror or error}; check that the path exists, is writable and has free space")
    except SystemExit as done:
        if done.code == 130:  # Typer's exit on Ctrl-C
            Console(stderr=True).print(
                "interrupted; a training run continues from its last checkpoint with the same command plus --resume",
                soft_wrap=True,
            )
        raise


def _fail(error: Exception, message: str) -> None:
    if _state["debug"]:
        raise error
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(1)
