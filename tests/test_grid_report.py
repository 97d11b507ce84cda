"""`cnfrl report`: runs grouped by algorithm and dataset, mean +- std over seeds, aggregates with bootstrap
intervals checked against an exact enumeration, warnings for cells that mix unlike runs."""

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from cnfrl.errors import CnfrlError
from cnfrl.experiments.intervals import interval_estimates
from cnfrl.experiments.registry import ALGORITHMS
from cnfrl.experiments.report import algo_color, read_provenance, write_grid_report

CNF = {"hopper-medium": [10.0, 20.0, 30.0, 40.0], "walker2d-medium": [50.0, 60.0, 70.0, 80.0]}
BC = {"hopper-medium": [25.0] * 4, "walker2d-medium": [45.0] * 4}


def fake_run(root: Path, algo: str, dataset: str, seed: int, last: float, updates: int = 5000, model: bool = False) -> Path:
    """A finished run whose last four evaluations average `last` and whose final evaluation is `last` + 1."""
    run_dir = root / f"{dataset}-{algo}-s{seed}-{updates}"
    run_dir.mkdir(parents=True)
    summary = {
        "algo": algo,
        "dataset": dataset,
        "preset": "cpu-quick",
        "seed": seed,
        "updates": updates,
        "eval_episodes": 10,
        "hardware": "CPU (2 cores, x86_64)",
        "final": {"score_mean": last + 1.0, "score_std": 1.0},
        "dataset_score_mean": 50.0,
    }
    if model:
        summary["model"] = {"kind": "flow", "best_epoch": 2}
        summary["bc_model"] = {"score_mean": 40.0 + seed, "score_std": 2.0}
        (run_dir / "model").mkdir()
        epochs = [{"epoch": e, "val_loss": -1.0 * e - seed, "sample_error_mean": 0.1 * e} for e in (1, 2, 3)]
        (run_dir / "model" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
    step = updates // 5
    records = [{"step": step, "critic_loss": 1.0, "eval_score_mean": 0.0}]
    records += [{"step": step * i, "critic_loss": 1.0, "eval_score_mean": last + (i - 3.5)} for i in range(2, 6)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run_dir / "eval.json").write_text(json.dumps(summary))
    return run_dir


def score_rows(path: Path) -> list[dict]:
    """A scores CSV's rows, past its `# key: value` head."""
    with open(path) as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


def exact_interval(matrix: np.ndarray, aggregate) -> tuple[float, float]:
    """The 95% percentile interval of `aggregate` over every stratified resample (seeds redrawn per dataset)."""
    seeds, datasets = matrix.shape
    draws = list(itertools.product(range(seeds), repeat=seeds))
    values = [
        aggregate(np.stack([matrix[list(rows), d] for d, rows in enumerate(choice)], axis=1))
        for choice in itertools.product(draws, repeat=datasets)
    ]
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def iqm(matrix: np.ndarray) -> float:
    values = np.sort(matrix.ravel())
    cut = len(values) // 4
    return float(values[cut : len(values) - cut].mean())


def test_report_matches_a_hand_computed_table(tmp_path):
    runs = [
        fake_run(tmp_path, algo, dataset, seed, scores[seed], model=algo == "cnf")
        for algo, table in (("cnf", CNF), ("bc", BC))
        for dataset, scores in table.items()
        for seed in range(4)
    ]
    text = write_grid_report(runs, tmp_path / "out").read_text()
    last4, final = text.split("## Mean of the last 4 evaluations")[1].split("## Last evaluation")
    caption = "Hardware: CPU (2 cores, x86_64); preset cpu-quick; 5,000 updates; seeds 0, 1, 2, 3; 10 episodes per evaluation."
    assert caption in last4 and caption in final
    assert "| dataset | cnf | bc | data |" in last4
    assert "| hopper-medium | 25.0 +- 12.9 (4) | 25.0 +- 0.0 (4) | 50.0 |" in last4
    assert "| walker2d-medium | 65.0 +- 12.9 (4) | 45.0 +- 0.0 (4) | 50.0 |" in last4
    assert "| hopper-medium | 26.0 +- 12.9 (4) | 26.0 +- 0.0 (4) | 50.0 |" in final
    assert "Warnings" not in text

    cnf = np.array([CNF["hopper-medium"], CNF["walker2d-medium"]]).T
    mean = lambda m: float(m.mean(0).mean())
    median = lambda m: float(np.median(m.mean(0)))
    assert (mean(cnf), median(cnf), iqm(cnf)) == (45.0, 45.0, 45.0)
    row = next(line for line in text.splitlines() if line.startswith("| cnf | 8 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")][2:]
    for cell, aggregate in zip(cells, (mean, median, iqm), strict=True):
        point, low, high = (float(x) for x in cell.replace("[", "").replace("]", "").replace(",", "").split())
        exact_low, exact_high = exact_interval(cnf, aggregate)
        assert point == 45.0
        assert abs(low - exact_low) <= 0.3 and abs(high - exact_high) <= 0.3, (cell, exact_low, exact_high)
    assert "| bc | 8 | 35.0 [35.0, 35.0] | 35.0 [35.0, 35.0] | 35.0 [35.0, 35.0] |" in text

    assert "| hopper-medium | cnf | flow | 2 +- 0 | -3.500 +- 1.291 | 0.200 +- 0.000 | 41.5 +- 1.3 |" in text
    assert "![hopper-medium](curves-hopper-medium.png)" in text
    assert (tmp_path / "out" / "curves-walker2d-medium.png").stat().st_size > 0
    rows = score_rows(tmp_path / "out" / "scores.csv")
    assert len(rows) == 16 and rows[0]["dataset"] == "hopper-medium" and rows[0]["algo"] == "bc"
    assert float(rows[0]["mean_last_4"]) == 25.0 and float(rows[0]["final"]) == 26.0


def test_scores_at_budgets_are_read_off_the_same_runs(tmp_path):
    """Evaluations at 1000 (score 0) and 2000..5000 (last - 1.5 .. last + 1.5): within 3,000 updates the last
    evaluations are 0, last - 1.5 and last - 0.5; a budget past the runs' length has no score."""
    runs = [fake_run(tmp_path, algo, "hopper-medium", seed, 30.0 + 10 * seed) for algo in ("cnf", "bc") for seed in range(3)]
    runs += [fake_run(tmp_path, algo, "walker2d-medium", seed, 60.0) for algo in ("cnf", "bc") for seed in range(3)]
    text = write_grid_report(runs, tmp_path / "out", budgets=[3000, 5000, 10000]).read_text()
    at_3000 = text.split("### 3,000 updates")[1].split("###")[0]
    hopper = [(0.0 + (last - 1.5) + (last - 0.5)) / 3 for last in (30.0, 40.0, 50.0)]
    expected = f"{np.mean(hopper):.1f} +- {np.std(hopper, ddof=1):.1f} (3)"
    assert f"| hopper-medium | {expected} | {expected} |" in at_3000
    assert "| hopper-medium | 40.0 +- 10.0 (3) | 40.0 +- 10.0 (3) |" in text.split("### 5,000 updates")[1]
    assert "| hopper-medium | - | - |" in text.split("### 10,000 updates")[1]
    assert "IQM over 2 datasets x seeds" in at_3000 and (tmp_path / "out" / "budgets.png").stat().st_size > 0
    rows = score_rows(tmp_path / "out" / "scores_by_budget.csv")
    assert len(rows) == 2 * 2 * 3 * 2 and {row["budget"] for row in rows} == {"3000", "5000"}
    spread = text.split("## Spread of the last 4 evaluations")[1].split("##")[0]
    assert "| hopper-medium | 3.0 +- 0.0 (3) | 3.0 +- 0.0 (3) |" in spread


def test_cells_mixing_lengths_or_repeating_seeds_are_flagged(tmp_path):
    runs = [
        fake_run(tmp_path, "cnf", "hopper-medium", 0, 10.0),
        fake_run(tmp_path, "cnf", "hopper-medium", 1, 20.0, updates=10000),
        fake_run(tmp_path / "again", "cnf", "hopper-medium", 1, 20.0, updates=10000),
    ]
    text = write_grid_report(runs, tmp_path / "out").read_text()
    assert "- cnf on hopper-medium: runs of different lengths (5,000, 10,000 updates) averaged together" in text
    assert "- cnf on hopper-medium: seed 1 given more than once, counted each time" in text


def test_a_run_without_eval_json_is_named(tmp_path):
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(
        CnfrlError, match="unfinished: no eval.json and no checkpoint, so nothing trained there; train it with `cnfrl run"
    ):
        write_grid_report([tmp_path / "unfinished"], tmp_path / "out")


def test_intervals_are_rliables_repeat_exactly_and_leave_numpy_global_generator_alone():
    """The vectorised bootstrap draws rliable's resamples: its intervals equal rliable's, computed with rliable's own
    aggregates and numpy's global generator seeded the same (how rliable draws), for matrices of several shapes."""
    from rliable import library, metrics

    rng = np.random.default_rng(3)
    scores = {"cnf": rng.normal(50, 10, (3, 9)), "bc": rng.normal(40, 20, (5, 4)), "plas": rng.uniform(0, 100, (2, 7))}
    rliable_aggregates = lambda x: np.array([metrics.aggregate_mean(x), metrics.aggregate_median(x), metrics.aggregate_iqm(x)])
    np.random.seed(11)
    points, intervals = library.get_interval_estimates(scores, rliable_aggregates, reps=2000)
    ours = interval_estimates(scores, seed=11, reps=2000)
    for algo in scores:
        for i, name in enumerate(("mean", "median", "IQM")):
            expected = (points[algo][i], intervals[algo][0][i], intervals[algo][1][i])
            np.testing.assert_allclose(ours[algo][name], expected, rtol=0, atol=1e-9)

    np.random.seed(7)
    expected_next = np.random.random_sample()
    np.random.seed(7)
    first = interval_estimates(scores)
    assert np.random.random_sample() == expected_next
    assert interval_estimates(scores) == first
    assert interval_estimates(scores, seed=1) != first


def test_runs_of_an_earlier_scores_csv_join_the_tables_and_aggregates(tmp_path):
    """A grid split over sessions whose first run directories are gone: their scores.csv rows still count."""
    first = [fake_run(tmp_path, "cnf", "hopper-medium", seed, CNF["hopper-medium"][seed], model=True) for seed in range(4)]
    write_grid_report(first, tmp_path / "earlier")
    later = [fake_run(tmp_path, "cnf", "walker2d-medium", seed, CNF["walker2d-medium"][seed]) for seed in range(4)]
    (tmp_path / "out").mkdir()
    text = write_grid_report(
        later, tmp_path / "out", [tmp_path / "earlier" / "scores.csv"], provenance={"date": "today"}
    ).read_text()
    assert read_provenance(tmp_path / "out" / "scores.csv") == {"date": "today", "machines": "CPU (2 cores, x86_64)"}
    caption = "Hardware: CPU (2 cores, x86_64); preset cpu-quick; 5,000 updates; seeds 0, 1, 2, 3; 10 episodes per evaluation."
    assert caption in text
    assert "| hopper-medium | 25.0 +- 12.9 (4) |" in text and "| walker2d-medium | 65.0 +- 12.9 (4) |" in text
    assert text.count("| cnf | 8 | 45.0 [") == 1
    assert "![walker2d-medium]" in text and "![hopper-medium]" not in text
    assert not (tmp_path / "out" / "curves-hopper-medium.png").exists()
    rows = score_rows(tmp_path / "out" / "scores.csv")
    assert len(rows) == 8 and rows[0]["dataset"] == "hopper-medium" and float(rows[0]["mean_last_4"]) == CNF["hopper-medium"][0]
    assert rows[0]["metric"] == "score_mean" and rows[0]["eval_episodes"] == "10"


def test_a_file_that_is_not_a_scores_csv_is_named(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CnfrlError, match="notes.csv: not a report's scores.csv"):
        write_grid_report([], tmp_path / "out", [tmp_path / "notes.csv"])
    with pytest.raises(CnfrlError, match="missing.csv: cannot read it"):
        write_grid_report([], tmp_path / "out", [tmp_path / "missing.csv"])


def test_each_algorithm_keeps_one_colour_of_its_own_in_every_plot():
    colors = [algo_color(algo) for algo in ALGORITHMS]
    assert len(set(colors)) == len(colors)
