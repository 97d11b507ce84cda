"""`cnfrl compare`: runs grouped by algorithm and dataset, mean +- std over seeds, curves over common evaluations."""

import json
from pathlib import Path

import pytest

from cnfrl.compare import compare_runs
from cnfrl.errors import CnfrlError


def fake_run(root: Path, algo: str, seed: int, final: float, curve: dict[int, float], bc: float | None = None) -> Path:
    run_dir = root / f"{algo}-s{seed}"
    run_dir.mkdir(parents=True)
    summary = {
        "algo": algo,
        "dataset": "hopper-medium",
        "seed": seed,
        "updates": max(curve),
        "final": {"score_mean": final, "score_std": 1.0},
        "dataset_score_mean": 50.0,
    }
    if bc is not None:
        summary["bc_model"] = {"score_mean": bc, "score_std": 2.0}
    (run_dir / "eval.json").write_text(json.dumps(summary))
    records = [{"step": step, "critic_loss": 1.0} for step in range(1000, max(curve) + 1, 1000)]
    records += [{"step": step, "critic_loss": 1.0, "eval_score_mean": score} for step, score in curve.items()]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sorted(records, key=lambda r: r["step"])))
    return run_dir


def test_groups_by_algorithm_with_mean_and_std_over_seeds(tmp_path):
    runs = [
        fake_run(tmp_path, "cnf", 0, 60.0, {5000: 10.0, 10000: 60.0}, bc=40.0),
        fake_run(tmp_path, "cnf", 1, 40.0, {5000: 20.0, 10000: 40.0, 15000: 45.0}, bc=50.0),
        fake_run(tmp_path, "bc", 0, 30.0, {10000: 30.0}),
    ]
    text = compare_runs(runs, tmp_path / "out").read_text()
    assert "| cnf on hopper-medium | 2 (0, 1) | 10,000-15,000 | 50.0 +- 10.0 | 45.0 +- 5.0 | 50.0 +- 0.0 |" in text
    assert "| bc on hopper-medium | 1 (0) | 10,000 | 30.0 +- 0.0 | - | 50.0 +- 0.0 |" in text
    cnf_curve = text.split("## cnf on hopper-medium")[1].split("##")[0]
    assert "| 5,000 | 15.0 | 5.0 |" in cnf_curve and "| 10,000 | 50.0 | 10.0 |" in cnf_curve
    assert "15,000" not in cnf_curve  # only seed 1 reached it
    assert (tmp_path / "out" / "compare.png").stat().st_size > 0


def test_a_run_without_eval_json_is_named(tmp_path):
    (tmp_path / "unfinished").mkdir()
    with pytest.raises(CnfrlError, match="unfinished: no eval.json; finish the run"):
        compare_runs([tmp_path / "unfinished"], tmp_path / "out")
