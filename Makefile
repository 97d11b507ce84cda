# The two README commands: `make run` (the main job on generated data) and `make test`.
# Each creates .venv and installs the package on first use; nothing else needs to be on the machine but Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-baselines bench-stability bench-sb3 bench-peers clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cnfrl run --algo cnf-td3bc --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest

# Formatting, lint and type check (CI runs them before the tests).
lint: $(STAMP)
	$(BIN)/ruff format --check cnfrl tests benchmarks
	$(BIN)/ruff check cnfrl tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/data_info.py --out benchmarks/results/data_info.md
	$(BIN)/python benchmarks/cnf_speed.py --algos cnf plas lapo bc --out benchmarks/results/cnf_speed_cpu.md

# Every algorithm and ablation, 3 seeds, generated hopper-medium and halfcheetah-medium (about 2 hours on 2 cores).
bench-baselines: $(STAMP)
	$(BIN)/cnfrl collect hopper-medium --exist-ok
	$(BIN)/cnfrl collect halfcheetah-medium --exist-ok
	$(BIN)/python benchmarks/baselines.py --out benchmarks/results/baselines_cpu.md

# Faithful CNF, cnf-steady, cnf-td3bc, BC, PLAS and LAPO on generated hopper-, walker2d- and halfcheetah-medium, 3 seeds,
# 50k updates each, one run at a time (about 30 min per dataset and seed on 2 cores without cnf-td3bc, whose
# runs took 8-10 min each on one core; resumable).
bench-stability: $(STAMP)
	for task in hopper walker2d halfcheetah; do $(BIN)/cnfrl collect $$task-medium --exist-ok; done
	$(BIN)/python benchmarks/stability.py --set loop.updates=50000 --set eval_episodes=10 --set pretrain.epochs=5 --out benchmarks/results/stability_cpu.md

bench-sb3: $(STAMP)
	test -x .venv-sb3/bin/python || ($(PYTHON) -m venv .venv-sb3 && .venv-sb3/bin/pip install --quiet torch==2.13.0 stable-baselines3 "gymnasium[mujoco]")
	$(BIN)/python benchmarks/sac_vs_sb3.py --sb3-python .venv-sb3/bin/python --out benchmarks/results/sac_vs_sb3.md

bench-peers: $(STAMP)
	test -x .venv-peers/bin/python || ($(PYTHON) -m venv .venv-peers && .venv-peers/bin/pip install --quiet d3rlpy==2.8.1 onnx onnxscript)
	$(BIN)/python benchmarks/peers.py --peer-python .venv-peers/bin/python --with benchmarks/results/stability_cpu.json --out benchmarks/results/peers_cpu.md

clean:
	rm -rf $(VENV)
