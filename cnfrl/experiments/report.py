"""The report over many finished runs (`cnfrl report`, and what `cnfrl bench` writes): scores per dataset and
algorithm as mean +- std over seeds, aggregates over datasets with bootstrap confidence intervals, learning
curves, action-model diagnostics, as Markdown, CSV and plots a paper can take.

Each run directory contributes its eval.json (final evaluation, BC through its action model, the dataset's
mean, hardware), the evaluations in metrics.jsonl (its learning curve) and, if it has one, model/ (the action
model's pre-training record). Runs of one algorithm on one dataset form a cell, whatever their seeds.
Runs recorded only in an earlier report's scores.csv (another machine's or session's, its run directories
gone) join the tables, the aggregates and the new scores.csv; they have no curve or model record to draw.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from cnfrl.errors import CnfrlError
from cnfrl.experiments.intervals import BOOTSTRAP_REPS, CONFIDENCE, interval_estimates
from cnfrl.experiments.registry import ALGORITHMS
from cnfrl.experiments.run_report import metric_unit, plt, summary_metric
from cnfrl.training.checkpoints import CHECKPOINT
from cnfrl.training.loop import read_metrics

LAST_EVALUATIONS = 4
# 18 distinct colours, one per registered algorithm (algo_color).
PALETTE = [tuple(rgba) for rgba in (*plt.get_cmap("tab10")(np.arange(10)), *plt.get_cmap("Dark2")(np.arange(8)))]


@dataclass(frozen=True)
class RunResult:
    """What one finished run reports: its eval.json summary, its evaluation curve and its action model's record."""

    run_dir: Path
    summary: dict
    curve: dict[int, float]
    model_epochs: list[dict]
    recorded_last_mean: float | None = None

    @property
    def algo(self) -> str:
        """The algorithm's registry name."""
        return str(self.summary["algo"])

    @property
    def dataset(self) -> str:
        """The dataset's name as the run recorded it."""
        return str(self.summary["dataset"])

    @property
    def final(self) -> float:
        """The final evaluation (eval.json)."""
        return float(self.summary["final"][summary_metric(self.summary)])

    def last_evaluations(self, budget: int | None = None) -> list[float]:
        """The last LAST_EVALUATIONS evaluations of the curve (fewer if the run made fewer), within `budget`
        updates when one is given."""
        steps = sorted(step for step in self.curve if budget is None or step <= budget)[-LAST_EVALUATIONS:]
        return [self.curve[step] for step in steps]

    @property
    def last_mean(self) -> float:
        """Mean of the last LAST_EVALUATIONS evaluations of training (fewer if the run made fewer)."""
        if self.recorded_last_mean is not None:
            return self.recorded_last_mean
        last = self.last_evaluations()
        return float(np.mean(last)) if last else self.final

    def last_mean_at(self, budget: int) -> float | None:
        """Mean of the last LAST_EVALUATIONS evaluations made within `budget` updates: the score this run would
        have reported had it stopped there. None when it did not train that far (or has no curve)."""
        if not self.curve or max(self.curve) < budget:
            return None
        last = self.last_evaluations(budget)
        return float(np.mean(last)) if last else None

    @property
    def spread(self) -> float | None:
        """Max - min of the last LAST_EVALUATIONS evaluations: how much the policy still moves at the end."""
        last = self.last_evaluations()
        return float(np.ptp(last)) if last else None


def load_run(run_dir: Path) -> RunResult:
    """Read a finished run (eval.json, metrics.jsonl, model/metrics.jsonl); a one-line error names what is missing."""
    run_dir = Path(run_dir)
    eval_path = run_dir / "eval.json"
    if not eval_path.is_file():
        if (run_dir / CHECKPOINT).is_file():
            raise CnfrlError(f"{run_dir}: no eval.json; evaluate its last checkpoint with `cnfrl evaluate {run_dir}`")
        raise CnfrlError(
            f"{run_dir}: no eval.json and no checkpoint, so nothing trained there; train it with `cnfrl run ... "
            f"--run-dir {run_dir}` (or `--resume` if it was cut off), or leave it out of the report"
        )
    try:
        summary = json.loads(eval_path.read_text())
    except json.JSONDecodeError as error:
        raise CnfrlError(f"{eval_path}: not valid JSON ({error}); write it again with `cnfrl evaluate {run_dir}`") from error
    metric = summary_metric(summary)
    curve = {}
    metrics_path = run_dir / "metrics.jsonl"
    if metrics_path.is_file():
        fix = lambda line: "repair or delete that line, or leave this run out of the report"
        for record in read_metrics(metrics_path, fix):
            if f"eval_{metric}" in record:
                curve[record["step"]] = record[f"eval_{metric}"]
    model_path = run_dir / "model" / "metrics.jsonl"
    epochs = [json.loads(line) for line in model_path.read_text().splitlines()] if model_path.is_file() else []
    return RunResult(run_dir, summary, curve, epochs)


def load_scores(path: Path) -> list[RunResult]:
    """The runs an earlier report recorded in its scores.csv, one per row, with the scores it gave them (the
    normalised score unless a `metric` column says otherwise); a one-line error names a file that is not one."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
        return [_recorded_run(row) for row in rows]
    except OSError as error:
        raise CnfrlError(f"{path}: cannot read it ({error.strerror}); pass the scores.csv of an earlier report") from error
    except (KeyError, ValueError) as error:
        raise CnfrlError(
            f"{path}: not a report's scores.csv ({type(error).__name__}: {error}); pass one `cnfrl report` wrote"
        ) from error


def read_provenance(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the head of a scores.csv: when, from which commit, on which machines and by
    which command its scores were made."""
    provenance = {}
    with open(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            key, _, value = line[1:].strip().partition(": ")
            provenance[key] = value
    return provenance


def _recorded_run(row: dict[str, str]) -> RunResult:
    metric = row.get("metric") or "score_mean"
    summary: dict[str, Any] = {
        "algo": row["algo"],
        "dataset": row["dataset"],
        "seed": int(row["seed"]),
        "preset": row["preset"],
        "updates": int(row["updates"]),
        "hardware": row["hardware"],
        "eval_episodes": int(row["eval_episodes"]) if row.get("eval_episodes") else "not recorded",
        "final": {metric: float(row["final"])},
    }
    if row.get("bc_model"):
        summary["bc_model"] = {metric: float(row["bc_model"])}
    if row.get("dataset_mean"):
        summary[f"dataset_{metric}"] = float(row["dataset_mean"])
    return RunResult(Path(row["run_dir"]), summary, {}, [], float(row[f"mean_last_{LAST_EVALUATIONS}"]))


def write_grid_report(
    run_dirs: Sequence[Path],
    out_dir: Path,
    scores: Sequence[Path] = (),
    budgets: Sequence[int] = (),
    provenance: dict[str, str] | None = None,
) -> Path:
    """Write report.md, scores.csv and one learning-curve plot per dataset for the runs (and the rows of earlier
    reports' `scores` files); returns report.md's path. `provenance` (date, commit, command, ...) heads
    scores.csv as `# key: value` lines; the machines the runs ran on are added to it."""
    if not run_dirs and not scores:
        raise CnfrlError("no run directories given; e.g. cnfrl report runs/*-cnf-* runs/*-bc-* --out report")
    runs = [run for path in scores for run in load_scores(path)] + [load_run(path) for path in run_dirs]
    metrics = {summary_metric(run.summary) for run in runs}
    if len(metrics) > 1:
        raise CnfrlError(
            "some runs report normalised scores and some only returns; report runs on datasets with reference scores together"
        )
    unit = metric_unit(metrics.pop())
    cells = group_cells(runs)
    datasets = sorted({run.dataset for run in runs})
    algos = list(dict.fromkeys(run.algo for run in runs))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    caption = settings_caption(runs)
    lines = [
        "# cnfrl results",
        "",
        f"{unit.capitalize()} of the deterministic policy, mean +- sample std (ddof 1) over seeds, n in brackets. {caption}",
        "",
        *_warnings(cells),
        f"## Mean of the last {LAST_EVALUATIONS} evaluations",
        "",
        f"_{caption}_",
        "",
        *_score_table(cells, datasets, algos, lambda run: run.last_mean, with_data=True),
        "",
        "## Last evaluation (eval.json)",
        "",
        f"_{caption}_",
        "",
        *_score_table(cells, datasets, algos, lambda run: run.final, with_data=True),
        "",
        *_aggregate_section(cells, datasets, algos, caption),
        *_spread_section(cells, datasets, algos, caption),
        *(_budget_section(cells, datasets, algos, budgets, unit, out_dir) if budgets else []),
        *_model_section(cells, caption),
    ]
    if any(run.curve for run in runs):
        lines += ["## Learning curves", ""]
    for dataset in datasets:
        drawn = {algo: [run for run in cells.get((dataset, algo), []) if run.curve] for algo in algos}
        if any(drawn.values()):
            name = _curve_plot(dataset, {algo: members for algo, members in drawn.items() if members}, unit, out_dir)
            lines += [f"![{dataset}]({name})", ""]
    machines = ", ".join(sorted({str(run.summary.get("hardware", "not recorded")) for run in runs}))
    _write_csv(runs, out_dir / "scores.csv", {**(provenance or {}), "machines": machines})
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _spread_section(
    cells: dict[tuple[str, str], list[RunResult]], datasets: list[str], algos: list[str], caption: str
) -> list[str]:
    """How far each cell's policies still move at the end: max - min of each run's last evaluations."""
    if not any(run.curve for members in cells.values() for run in members):
        return []
    return [
        f"## Spread of the last {LAST_EVALUATIONS} evaluations",
        "",
        f"_{caption}_ Max - min of each run's last {LAST_EVALUATIONS} evaluations; mean +- sample std (ddof 1) over "
        "seeds, n in brackets.",
        "",
        *_score_table(cells, datasets, algos, lambda run: run.spread),
        "",
    ]


def group_cells(runs: Sequence[RunResult]) -> dict[tuple[str, str], list[RunResult]]:
    """The runs by (dataset, algorithm): the cells every table, aggregate and plot is made of."""
    cells: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for run in runs:
        cells[(run.dataset, run.algo)].append(run)
    return dict(cells)


def settings_caption(runs: list[RunResult]) -> str:
    """The settings the runs share, as one line under a table: hardware, preset, updates, seeds, episodes."""

    def values(key: Callable[[RunResult], Any]) -> str:
        return ", ".join(str(value) for value in dict.fromkeys(key(run) for run in runs))

    seeds = sorted({int(run.summary["seed"]) for run in runs})
    return (
        f"Hardware: {values(lambda run: run.summary.get('hardware', 'not recorded'))}; "
        f"preset {values(lambda run: run.summary.get('preset', '?'))}; "
        f"{values(lambda run: format(run.summary['updates'], ','))} updates; "
        f"seeds {', '.join(map(str, seeds))}; "
        f"{values(lambda run: run.summary['eval_episodes'])} episodes per evaluation."
    )


def _warnings(cells: dict[tuple[str, str], list[RunResult]]) -> list[str]:
    """Cells whose runs differ in length or repeat a seed: their means mix unlike things, so the report says so."""
    found = []
    for (dataset, algo), members in cells.items():
        updates = sorted({int(run.summary["updates"]) for run in members})
        if len(updates) > 1:
            lengths = ", ".join(f"{u:,}" for u in updates)
            found.append(f"- {algo} on {dataset}: runs of different lengths ({lengths} updates) averaged together")
        seeds = [int(run.summary["seed"]) for run in members]
        repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
        if repeated:
            found.append(f"- {algo} on {dataset}: seed {', '.join(map(str, repeated))} given more than once, counted each time")
    return ["**Warnings**", "", *found, ""] if found else []


def _score_table(
    cells: dict[tuple[str, str], list[RunResult]],
    datasets: list[str],
    algos: list[str],
    value: Callable[[RunResult], float | None],
    with_data: bool = False,
) -> list[str]:
    """One row per dataset, one column per algorithm; with `with_data`, a last column with the dataset's own
    level (its mean episode)."""
    extra = ["data"] if with_data else []
    lines = ["| dataset | " + " | ".join([*algos, *extra]) + " |", "|---|" + "---:|" * (len(algos) + len(extra))]
    for dataset in datasets:
        row = []
        for algo in algos:
            members = cells.get((dataset, algo), [])
            row.append(mean_std([score for score in map(value, members) if score is not None]))
        if with_data:
            row.append(data_level(cells, dataset))
        lines.append(f"| {dataset} | " + " | ".join(row) + " |")
    return lines


def data_level(cells: dict[tuple[str, str], list[RunResult]], dataset: str) -> str:
    """The dataset's mean episode on the report's scale, as its runs recorded it."""
    levels = [
        run.summary.get(f"dataset_{summary_metric(run.summary)}")
        for (name, _), members in cells.items()
        if name == dataset
        for run in members
    ]
    known = [level for level in levels if level is not None]
    return f"{known[0]:.1f}" if known else "-"


def mean_std(values: Sequence[float]) -> str:
    """ "mean +- std (n)" with the sample std (ddof 1) over `values`; the std is left out for a single value."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f} (1)"
    return f"{np.mean(values):.1f} +- {np.std(values, ddof=1):.1f} ({len(values)})"


def score_matrices(
    cells: dict[tuple[str, str], list[RunResult]],
    datasets: list[str],
    algos: list[str],
    value: Callable[[RunResult], float | None] = lambda run: run.last_mean,
) -> dict[str, np.ndarray]:
    """(seeds x datasets) matrices of `value` (by default the mean of the last evaluations), per algorithm with a
    value on every dataset; each dataset contributes its lowest seeds that have one, as many as the dataset with
    the fewest has."""
    matrices = {}
    for algo in algos:
        per_dataset = [
            [
                score
                for run in sorted(cells.get((dataset, algo), []), key=lambda run: run.summary["seed"])
                if (score := value(run)) is not None
            ]
            for dataset in datasets
        ]
        seeds = min(len(scores) for scores in per_dataset)
        if seeds:
            matrices[algo] = np.array([[scores[i] for scores in per_dataset] for i in range(seeds)])
    return matrices


def _aggregate_section(
    cells: dict[tuple[str, str], list[RunResult]], datasets: list[str], algos: list[str], caption: str
) -> list[str]:
    matrices = score_matrices(cells, datasets, algos)
    if not matrices or len(datasets) < 2:  # over one dataset the table above says it all
        return []
    heading = f"## Aggregates over {len(datasets)} dataset{'s' if len(datasets) > 1 else ''}"
    estimates = interval_estimates(matrices)
    lines = [
        heading,
        "",
        f"_{caption}_ Mean of the last {LAST_EVALUATIONS} evaluations per run; point estimate "
        f"[{CONFIDENCE:.0%} stratified-bootstrap interval, {BOOTSTRAP_REPS:,} resamples, rliable]; only algorithms that "
        "ran on every dataset.",
        "",
        "| algorithm | runs | mean | median | IQM |",
        "|---|---:|---:|---:|---:|",
    ]
    for algo, estimate in estimates.items():
        shown = [f"{point:.1f} [{low:.1f}, {high:.1f}]" for point, low, high in estimate.values()]
        lines.append(f"| {algo} | {matrices[algo].size} | " + " | ".join(shown) + " |")
    return [*lines, ""]


def algo_color(algo: str) -> tuple[float, ...]:
    """The colour of `algo` in every plot: fixed by its place in the registry, so a figure keeps its colours when
    an algorithm joins it (other names get one from their hash)."""
    names = list(ALGORITHMS)
    return PALETTE[names.index(algo) if algo in names else zlib.crc32(algo.encode()) % len(PALETTE)]


def _curve_plot(dataset: str, by_algo: dict[str, list[RunResult]], unit: str, out_dir: Path) -> str:
    name = "curves-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset) + ".png"
    figure, axis = plt.subplots(figsize=(7, 4))
    for algo, members in by_algo.items():
        steps = sorted(set.intersection(*(set(run.curve) for run in members)))
        if not steps:
            continue
        values = np.array([[run.curve[step] for step in steps] for run in members])
        mean, std = values.mean(0), values.std(0)
        color = algo_color(algo)
        axis.plot(steps, mean, marker="o", markersize=3, label=f"{algo} (n={len(members)})", color=color)
        axis.fill_between(steps, mean - std, mean + std, alpha=0.2, color=color)
    axis.set_title(dataset)
    axis.set_xlabel("updates")
    axis.set_ylabel(unit)
    axis.grid(alpha=0.3)
    if axis.lines:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out_dir / name, dpi=120)
    plt.close(figure)
    return name


def _model_section(cells: dict[tuple[str, str], list[RunResult]], caption: str) -> list[str]:
    rows = []
    for (dataset, algo), members in sorted(cells.items()):
        with_model = [run for run in members if "model" in run.summary]
        if not with_model:
            continue
        best = [_best_epoch_record(run) for run in with_model]
        bc = [run.summary["bc_model"][summary_metric(run.summary)] for run in with_model if "bc_model" in run.summary]
        rows.append(
            f"| {dataset} | {algo} | {with_model[0].summary['model']['kind']} "
            f"| {_spread([run.summary['model']['best_epoch'] for run in with_model], '.0f')} "
            f"| {_spread([r['val_loss'] for r in best if r], '.3f')} "
            f"| {_spread([r['sample_error_mean'] for r in best if r and 'sample_error_mean' in r], '.3f')} "
            f"| {_spread(bc, '.1f')} |"
        )
    if not rows:
        return []
    return [
        "## Action models",
        "",
        f"_{caption}_ At the epoch each run kept (lowest validation loss); mean +- sample std (ddof 1) over seeds.",
        "",
        "| dataset | algorithm | model | best epoch | validation loss | sample error | BC through the model |",
        "|---|---|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def _best_epoch_record(run: RunResult) -> dict:
    best = run.summary["model"]["best_epoch"]
    return next((record for record in run.model_epochs if record.get("epoch") == best), {})


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):{fmt}} +- {np.std(values, ddof=1):{fmt}}" if len(values) > 1 else f"{values[0]:{fmt}}"


def _write_csv(runs: list[RunResult], path: Path, provenance: dict[str, str]) -> None:
    columns = ["dataset", "algo", "seed", "preset", "updates", "hardware", "final", f"mean_last_{LAST_EVALUATIONS}"]
    columns += ["bc_model", "dataset_mean", "run_dir", "metric", "eval_episodes"]
    with open(path, "w", newline="") as handle:
        handle.writelines(f"# {key}: {value}\n" for key, value in provenance.items())
        writer = csv.writer(handle)
        writer.writerow(columns)
        for run in sorted(runs, key=lambda run: (run.dataset, run.algo, run.summary["seed"])):
            metric = summary_metric(run.summary)
            bc = run.summary.get("bc_model", {}).get(metric)
            writer.writerow(
                [
                    run.dataset,
                    run.algo,
                    run.summary["seed"],
                    run.summary.get("preset", ""),
                    run.summary["updates"],
                    run.summary.get("hardware", ""),
                    f"{run.final:.4f}",
                    f"{run.last_mean:.4f}",
                    "" if bc is None else f"{bc:.4f}",
                    "" if run.summary.get(f"dataset_{metric}") is None else f"{run.summary[f'dataset_{metric}']:.4f}",
                    str(run.run_dir),
                    metric,
                    run.summary["eval_episodes"],
                ]
            )


def iqm_by_budget(
    cells: dict[tuple[str, str], list[RunResult]], datasets: list[str], algos: list[str], budgets: Sequence[int]
) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per algorithm, (budget, IQM, interval low, interval high) over datasets x seeds of each run's score within
    that budget, for the budgets at which it has a score on every dataset: one long run answers each shorter
    question, with the same bootstrap as the aggregates."""
    iqms: dict[str, list[tuple[int, float, float, float]]] = defaultdict(list)
    for budget in budgets:
        matrices = score_matrices(cells, datasets, algos, partial(RunResult.last_mean_at, budget=budget))
        for algo, estimate in (interval_estimates(matrices) if matrices else {}).items():
            iqms[algo].append((budget, *estimate["IQM"]))
    return dict(iqms)


def _budget_section(
    cells: dict[tuple[str, str], list[RunResult]],
    datasets: list[str],
    algos: list[str],
    budgets: Sequence[int],
    unit: str,
    out_dir: Path,
) -> list[str]:
    """Scores at each budget read off the same runs (the mean of the last evaluations made within it), per dataset
    and aggregated, a plot of each algorithm's IQM against updates, and the per-run values as scores_by_budget.csv."""
    lines = [
        "## Scores by budget",
        "",
        f"Each run's mean of its last {LAST_EVALUATIONS} evaluations within the budget, i.e. what a run of that length "
        "would report (same seeds, same evaluations); mean +- sample std (ddof 1) over seeds, n in brackets. Only runs "
        "that trained at least that far count.",
        "",
    ]
    rows: list[list[Any]] = []
    iqms = iqm_by_budget(cells, datasets, algos, budgets)
    over = f"{len(datasets)} dataset{'s' if len(datasets) > 1 else ''}"
    for budget in budgets:
        value = partial(RunResult.last_mean_at, budget=budget)
        lines += [f"### {budget:,} updates", "", *_score_table(cells, datasets, algos, value), ""]
        rows += [
            [run.dataset, run.algo, run.summary["seed"], budget, f"{score:.4f}"]
            for (_, _), members in sorted(cells.items())
            for run in members
            if (score := value(run)) is not None
        ]
        at_budget = {algo: point[1:] for algo, points in iqms.items() for point in points if point[0] == budget}
        if at_budget:
            lines += [
                f"IQM over {over} x seeds [{CONFIDENCE:.0%} stratified-bootstrap interval]: "
                + "; ".join(f"{algo} {iqm:.1f} [{low:.1f}, {high:.1f}]" for algo, (iqm, low, high) in at_budget.items()),
                "",
            ]
    with open(out_dir / "scores_by_budget.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["dataset", "algo", "seed", "budget", f"mean_last_{LAST_EVALUATIONS}"])
        writer.writerows(rows)
    if iqms:
        figure, axis = plt.subplots(figsize=(7, 4))
        for algo, points in iqms.items():
            steps, point, low, high = (np.array(column) for column in zip(*points, strict=True))
            color = algo_color(algo)
            axis.plot(steps, point, marker="o", markersize=3, label=algo, color=color)
            axis.fill_between(steps, low, high, alpha=0.2, color=color)
        axis.set_xlabel("updates (budget)")
        axis.set_ylabel(f"IQM of {unit}")
        axis.set_title(f"IQM over {over} with {CONFIDENCE:.0%} intervals")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out_dir / "budgets.png", dpi=120)
        plt.close(figure)
        lines += ["![IQM against the budget](budgets.png)", ""]
    return lines
