"""`cnfrl bench`: a grid trained with its seeds together, reused when finished, extended by a longer budget,
its file format checked."""

import dataclasses
import json
from pathlib import Path

import pytest

from cnfrl.bench import Grid, load_grid_file, run_grid
from cnfrl.collect.recipes import collect_dataset
from cnfrl.errors import CnfrlError
from cnfrl.train import CHECKPOINT, checkpoint_updates

TINY = (
    "flow.blocks=2",
    "flow.hidden=16",
    "pretrain.epochs=1",
    "pretrain.batch_size=128",
    "agent.actor_hidden=[16,16]",
    "agent.hidden=[16,16]",
    "agent.critic_hidden=[16,16]",
    "loop.batch_size=32",
    "loop.updates=100",
    "loop.chunk=50",
    "loop.eval_every=50",
    "eval_episodes=1",
)


def test_a_grid_trains_then_reuses_finished_runs_and_extends_them(tmp_path, minari_path, monkeypatch):
    monkeypatch.setenv("CNFRL_CACHE", str(tmp_path / "cache"))
    collect_dataset("hopper-random", steps=400, seed=0, root=minari_path, show_progress=False)
    grid = Grid(algos=("cnf", "bc"), datasets=("hopper-random",), seeds=2, overrides=TINY, out=tmp_path / "bench")
    report, failures = run_grid(grid, show_progress=False)
    assert failures == []
    runs = sorted((tmp_path / "bench" / "runs").iterdir())
    assert [run.name.split("-")[:4] for run in runs] == [["hopper", "random", algo, "cpu"] for algo in ("bc",) * 2 + ("cnf",) * 2]
    assert sorted(json.loads((run / "eval.json").read_text())["seed"] for run in runs) == [0, 0, 1, 1]
    text = report.read_text()
    assert "| dataset | cnf | bc |" in text and text.count("(2)") == 4
    assert "seeds 0, 1" in text and "100 updates" in text
    stamps = {run: (run / CHECKPOINT).stat().st_mtime_ns for run in runs}
    run_grid(grid, show_progress=False)
    assert {run: (run / CHECKPOINT).stat().st_mtime_ns for run in runs} == stamps
    longer = dataclasses.replace(grid, overrides=(*TINY, "loop.updates=200"))
    run_grid(longer, show_progress=False)
    assert sorted((tmp_path / "bench" / "runs").iterdir()) == runs
    for run in runs:
        assert checkpoint_updates(run / CHECKPOINT) == 200
        steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert steps == [50, 100, 150, 200]


def test_grid_file_is_read_and_checked(tmp_path: Path):
    path = tmp_path / "grid.yaml"
    path.write_text("algos: [cnf, bc]\ndatasets: hopper-medium\nseeds: 2\nset: [loop.updates=1000]\n")
    grid = load_grid_file(path)
    assert (grid.algos, grid.datasets, grid.seeds, grid.set) == (["cnf", "bc"], ["hopper-medium"], 2, ["loop.updates=1000"])
    path.write_text("algos: [cnf]\nseed: 3\n")
    with pytest.raises(
        CnfrlError, match="unknown key seed; a grid file takes algos, datasets, first_seed, out, preset, seeds, set"
    ):
        load_grid_file(path)
    path.write_text("algos: [cnf\n")
    with pytest.raises(CnfrlError, match="not valid YAML"):
        load_grid_file(path)
    with pytest.raises(CnfrlError, match="a grid needs at least one algorithm and one dataset"):
        Grid(algos=("cnf",), datasets=()).groups()
    with pytest.raises(CnfrlError, match="unknown setting 'actor_hiden'"):
        Grid(algos=("cnf", "bc"), datasets=("hopper-medium",), overrides=("agent.actor_hiden=[8]",)).groups()
    mixed = Grid(algos=("cnf", "bc"), datasets=("hopper-medium",), seeds=2, overrides=("agent.actor_hidden=[8]",)).groups()
    assert [configs[1].agent.actor_hidden for configs, _ in mixed[:1]] == [(8,)] and mixed[1][0][1].seed == 1
