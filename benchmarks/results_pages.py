"""The docs' results pages and the README's results table, made from the committed raw results only.

Every campaign's page is `cnfrl report` run over its committed scores.csv (or its committed run directories),
followed by the campaign's own README (its dated notes); speed campaigns copy their committed tables. The README's
table is the paper grid's per-algorithm IQM, over all nine datasets and over the six that chose no setting. `make
results` writes them; `python benchmarks/results_pages.py --check` (run by tests/test_results.py) regenerates
them in a temporary folder and fails on any difference, so no hand-edited number survives in README or docs.
Usage: python benchmarks/results_pages.py [--check]
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cnfrl.experiments.grid import load_grid_file
from cnfrl.experiments.intervals import CONFIDENCE, interval_estimates
from cnfrl.experiments.report import (
    LAST_EVALUATIONS,
    data_level,
    group_cells,
    iqm_by_budget,
    load_run,
    load_scores,
    read_provenance,
    score_matrices,
    settings_caption,
    write_grid_report,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "results"
README = ROOT / "README.md"
START, END = "<!-- results table: made by `make results`; do not edit -->", "<!-- end of results table -->"
BUDGET_START, BUDGET_END = "<!-- budget table: made by `make results`; do not edit -->", "<!-- end of budget table -->"
BUDGET_GRID = ROOT / "benchmarks" / "grids" / "budget_cpu.yaml"
# The datasets cnf-td3bc's and cnf-steady's settings were chosen on (benchmarks/results/cnf_variant_search_cpu.md).
CHOSEN_ON = ("hopper-medium", "walker2d-medium", "halfcheetah-medium")
MAIN_ROWS = ("cnf", "cnf-td3bc", "plas", "lapo", "bc")


@dataclass(frozen=True)
class Campaign:
    """One results page: a title, the folder of its committed results, and what in it the page is made from."""

    name: str
    title: str
    folder: str
    scores: bool = True
    runs: str | None = None
    budgets: tuple[int, ...] = ()
    tables: tuple[str, ...] = field(default=())

    @property
    def source(self) -> Path:
        return RESULTS / self.folder


CAMPAIGNS = (
    Campaign("paper-grid", "The paper's grid on the CPU (20k updates)", "paper_cpu"),
    Campaign(
        "budget",
        "CNF against the training budget (to 300k updates)",
        "budget_cpu",
        scores=False,
        runs="runs",
        budgets=(20_000, 50_000, 100_000, 200_000, 300_000),
    ),
    Campaign("td3bc-iql", "TD3+BC and IQL beside d3rlpy's (20k updates)", "td3bc_iql_cpu"),
    Campaign("small-grid", "The small grid (cnf, cnf-steady, bc on hopper-medium)", "bench_cpu_small"),
    Campaign("gpu-h200", "One NVIDIA H200: speed and a small grid at `paper`", "gpu_h200", tables=("speed.md",)),
    Campaign(
        "speed-cpu",
        "Speed on the 2-core CPU",
        ".",
        scores=False,
        tables=(
            "cnf_speed_cpu.md",
            "cnf_speed_cpu_frozen_flow.md",
            "algo_speed_cpu.md",
            "policy_speed_cpu.md",
            "data_info.md",
            "sac_vs_sb3.md",
            "ray_overhead_cpu.md",
        ),
    ),
)


def campaign_page(campaign: Campaign, out: Path) -> str | None:
    """The campaign's page (Markdown) with its plots copied into out/NAME/; None when it has no results yet."""
    with tempfile.TemporaryDirectory() as tmp:
        return _campaign_page(campaign, out / campaign.name, Path(tmp))


def _campaign_page(campaign: Campaign, images: Path, folder: Path) -> str | None:
    body: list[str] = []
    run_dirs = sorted(p.parent for p in (campaign.source / campaign.runs).glob("*/eval.json")) if campaign.runs else []
    scores = [campaign.source / "scores.csv"] if campaign.scores and (campaign.source / "scores.csv").is_file() else []
    if run_dirs or scores:
        provenance = {k: v for k, v in read_provenance(scores[0]).items() if k != "machines"} if scores else {}
        report = write_grid_report(run_dirs, folder, scores, campaign.budgets, provenance)
        shown = [line for line in report.read_text().splitlines()[1:] if not line.startswith("![")]
        origin = (
            f"`benchmarks/results/{campaign.folder}/scores.csv`"
            if scores
            else f"the run directories in `benchmarks/results/{campaign.folder}/{campaign.runs}/`"
        )
        body += [f"_Made by `make results` from {origin}._", ""]
        body += [f"- {key}: {value}" for key, value in read_provenance(folder / "scores.csv").items()] + [""]
        body += shown
        for png in sorted(folder.glob("*.png")):
            images.mkdir(parents=True, exist_ok=True)
            shutil.copy(png, images / png.name)
            body += [f"![{png.stem}]({png.name})", ""]
    for table in campaign.tables:
        if (campaign.source / table).is_file():
            text = (campaign.source / table).read_text().splitlines()
            body += [f"## `{table}`", "", *(f"#{line}" if line.startswith("#") else line for line in text), ""]
    if not body:
        return None
    notes = campaign.source / "README.md"
    if campaign.folder != "." and notes.is_file():
        text = notes.read_text().splitlines()
        body += ["## Notes (the campaign's README, dated)", "", *(f"##{line}" if line.startswith("#") else line for line in text)]
    return "\n".join([f"# {campaign.title}", "", *body]).rstrip() + "\n"


def readme_table() -> str:
    """The paper grid's main rows: IQM with 95% intervals over all nine datasets and over the six not used to
    choose any setting, with who leads each."""
    runs = [run for run in load_scores(RESULTS / "paper_cpu" / "scores.csv") if run.algo in MAIN_ROWS]
    cells = group_cells(runs)
    datasets = sorted({run.dataset for run in runs})
    held_out = [dataset for dataset in datasets if dataset not in CHOSEN_ON]
    columns = []
    for chosen in (datasets, held_out):
        estimates = interval_estimates(score_matrices(cells, chosen, list(MAIN_ROWS)))
        columns.append({algo: estimate["IQM"] for algo, estimate in estimates.items()})
    lines = [
        START,
        "| algorithm | IQM, 9 datasets | IQM, the 6 that chose no setting |",
        "|---|---:|---:|",
    ]
    for algo in sorted(MAIN_ROWS, key=lambda algo: -columns[1][algo][0]):
        cells_text = [f"{point:.1f} [{low:.1f}, {high:.1f}]" for point, low, high in (column[algo] for column in columns)]
        lines.append(f"| `{algo}` | " + " | ".join(cells_text) + " |")
    standings = [_standing(column) for column in columns]
    seeds = sorted({int(run.summary["seed"]) for run in runs})
    updates = sorted({int(run.summary["updates"]) for run in runs})
    lines += [
        "",
        f"Generated hopper, walker2d and halfcheetah x medium, medium-replay, medium-expert; `cpu-quick`, "
        f"{', '.join(f'{u:,}' for u in updates)} updates, seeds {', '.join(map(str, seeds))} ({len(seeds)} per cell), "
        f"10 episodes per evaluation; each run's mean of its last 4 evaluations; IQM over datasets x seeds with a 95% "
        f"stratified-bootstrap interval (rliable). `cnf-td3bc`'s settings were chosen on {', '.join(CHOSEN_ON)}; the "
        f"right column leaves those three out. Highest IQM: {standings[0]} on all nine; {standings[1]} on the six. "
        f"Per dataset and with the ablations: [docs/results/paper-grid](docs/results/paper-grid/index.md).",
        END,
    ]
    return "\n".join(lines)


def readme_budget_table() -> str:
    """The budget grid so far: each algorithm's IQM at every budget over the datasets on which all algorithms
    finished so far have finished (those whose row is complete), the groups still missing, and the plot."""
    campaign = next(campaign for campaign in CAMPAIGNS if campaign.name == "budget")
    runs = [load_run(path.parent) for path in sorted((campaign.source / campaign.runs).glob("*/eval.json"))]
    grid = load_grid_file(BUDGET_GRID)
    cells = group_cells(runs)
    finished = [algo for algo in grid.algos if algo in {name for _, name in cells}]
    by_dataset = {dataset: [algo for algo in finished if (dataset, algo) in cells] for dataset in grid.datasets}
    complete = [dataset for dataset, algos in by_dataset.items() if algos == finished]
    datasets = complete or [max(by_dataset, key=lambda dataset: len(by_dataset[dataset]))]
    algos = [algo for algo in finished if all((dataset, algo) in cells for dataset in datasets)]
    iqms = iqm_by_budget(cells, datasets, algos, campaign.budgets)
    lines = [
        BUDGET_START,
        "| algorithm | " + " | ".join(f"{budget // 1000}k" for budget in campaign.budgets) + " |",
        "|---|" + "---:|" * len(campaign.budgets),
    ]
    for algo, points in iqms.items():
        at = {budget: f"{iqm:.1f} [{low:.1f}, {high:.1f}]" for budget, iqm, low, high in points}
        lines.append(f"| `{algo}` | " + " | ".join(at.get(budget, "-") for budget in campaign.budgets) + " |")
    groups = len(grid.algos) * len(grid.datasets)
    missing = {dataset: [algo for algo in grid.algos if (dataset, algo) not in cells] for dataset in grid.datasets}
    unfinished = "; ".join(
        f"{dataset} {'all' if len(left) == len(grid.algos) else ', '.join(left)}" for dataset, left in missing.items() if left
    )
    levels = ", ".join(f"{dataset} {data_level(cells, dataset)}" for dataset in datasets)
    lines += [
        "",
        f"`{BUDGET_GRID.relative_to(ROOT)}`: {len(cells)} of its {groups} groups finished. IQM over "
        f"{', '.join(datasets)} x seeds of each run's mean of its last {LAST_EVALUATIONS} evaluations within the "
        f"budget (one run per seed, read at each budget), {CONFIDENCE:.0%} stratified-bootstrap interval. "
        f"{settings_caption(runs)} The data's own level: {levels}. Not finished yet: "
        f"{unfinished or 'none'}. `cnf-td3bc`'s settings were chosen on {', '.join(CHOSEN_ON)} in searches of up to 50k updates "
        "(before this grid); nothing was chosen on these runs.",
        "",
        "![IQM against the budget](docs/results/budget/budgets.png)",
        BUDGET_END,
    ]
    return "\n".join(lines)


def _standing(column: dict[str, tuple[float, float, float]]) -> str:
    """Who has the highest IQM, and whether its interval is clear of the runner-up's."""
    first, second = sorted(column, key=lambda algo: -column[algo][0])[:2]
    overlap = column[first][1] <= column[second][2]
    return f"`{first}` ({'its interval overlaps' if overlap else 'its interval clear of'} `{second}`'s)"


def write_all(docs: Path, readme: Path) -> list[Path]:
    """Write every page into `docs` and the table into `readme`; the paths written."""
    written = []
    shutil.rmtree(docs, ignore_errors=True)
    docs.mkdir(parents=True)
    titles = []
    for campaign in CAMPAIGNS:
        page = campaign_page(campaign, docs)
        if page is None:
            continue
        (docs / campaign.name).mkdir(exist_ok=True)
        path = docs / campaign.name / "index.md"
        path.write_text(page)
        written.append(path)
        titles.append(f"- [{campaign.title}]({campaign.name}/index.md)")
    table = readme_table()
    index = [
        "# Results",
        "",
        "Every table here is made by `make results` from the committed raw results in `benchmarks/results/` (scores",
        "per run, with the date, commit, machine and command at their head); `tests/test_results.py` fails if a",
        "page or the README's table differs from what those files give. Std over seeds is the sample std (ddof 1),",
        "n in brackets.",
        "",
        "## The paper grid's main rows, by IQM",
        "",
        table.replace("(docs/results/paper-grid/index.md)", "(paper-grid/index.md)")
        .replace(START + "\n", "")
        .replace("\n" + END, ""),
        "",
        "## Campaigns",
        "",
        *titles,
    ]
    (docs / "index.md").write_text("\n".join(index) + "\n")
    written.append(docs / "index.md")
    text = readme.read_text()
    for start, end, block in ((START, END, table), (BUDGET_START, BUDGET_END, readme_budget_table())):
        if start in text:
            before, rest = text.split(start, 1)
            text = before + block + rest.split(end, 1)[1]
    readme.write_text(text)
    written.append(readme)
    return written


def check() -> list[str]:
    """Regenerate everything in a temporary folder; the differences from what is committed (empty: none)."""
    with tempfile.TemporaryDirectory() as tmp:
        docs, readme = Path(tmp) / "results", Path(tmp) / "README.md"
        shutil.copy(README, readme)
        write_all(docs, readme)
        found = []
        pairs = [(readme, README)] + [(path, DOCS / path.relative_to(docs)) for path in sorted(docs.rglob("*.md"))]
        for made, committed in pairs:
            old = committed.read_text().splitlines() if committed.is_file() else []
            diff = list(difflib.unified_diff(old, made.read_text().splitlines(), str(committed), "regenerated", lineterm=""))
            found += diff[:40]
        committed_pages = {p.relative_to(DOCS) for p in DOCS.rglob("*.md")}
        found += [
            f"{DOCS / extra}: not made from any results"
            for extra in committed_pages - {p.relative_to(docs) for p in docs.rglob("*.md")}
        ]
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if README or docs/results differ from the committed results")
    args = parser.parse_args()
    if args.check:
        found = check()
        print("\n".join(found) or "README and docs/results match the committed results")
        sys.exit(1 if found else 0)
    for path in write_all(DOCS, README):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
