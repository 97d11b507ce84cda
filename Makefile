# The two README commands: `make run` (the main job on generated data) and `make test`.
# Each creates .venv and installs the package on first use; nothing else needs to be on the machine but Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint docs docs-build results bench bench-baselines bench-stability bench-sb3 bench-peers clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# The main job: CNF (cnf-td3bc) and plain BC on the embedded demo dataset, then both side by side with BC through
# the flow and the dataset's own level.
DEMO_RUNS := runs/hopper-medium-demo-cnf-td3bc-cpu-quick-s0 runs/hopper-medium-demo-bc-cpu-quick-s0
run: $(STAMP)
	$(BIN)/cnfrl run --algo cnf-td3bc --overwrite
	$(BIN)/cnfrl run --algo bc --overwrite
	$(BIN)/cnfrl report $(DEMO_RUNS) --out runs/demo-report

# One pytest worker per core, each taking whole test files (a file's tests share its module fixtures and, for the
# Ray tests, one Ray at a time); `pytest` alone runs them in one process.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile

# Formatting, lint and type check (CI runs them before the tests).
lint: $(STAMP)
	$(BIN)/ruff format --check cnfrl tests benchmarks
	$(BIN)/ruff check cnfrl tests benchmarks
	$(BIN)/mypy

# The documentation site (MkDocs): `make docs` serves it on http://127.0.0.1:8000, `make docs-build` builds it
# strictly (a broken link or page fails), as CI does.
docs: $(STAMP)
	$(BIN)/mkdocs serve

docs-build: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir build/site

# The README's results table and docs/results/ from the committed raw results (tests/test_results.py checks them).
results: $(STAMP)
	$(BIN)/python benchmarks/results_pages.py

bench: $(STAMP)
	$(BIN)/python benchmarks/data_info.py --out benchmarks/results/data_info.md
	$(BIN)/python benchmarks/cnf_speed.py --algos cnf plas lapo bc --out benchmarks/results/cnf_speed_cpu.md

# The campaigns are grid files run by `cnfrl bench` (resumable; see benchmarks/README.md for each one's cost).
bench-baselines: $(STAMP)
	for task in hopper halfcheetah; do $(BIN)/cnfrl collect $$task-medium --exist-ok; done
	$(BIN)/cnfrl bench benchmarks/grids/baselines_cpu.yaml --ray

bench-stability: $(STAMP)
	for task in hopper walker2d halfcheetah; do $(BIN)/cnfrl collect $$task-medium --exist-ok; done
	$(BIN)/cnfrl bench benchmarks/grids/stability_cpu.yaml --ray
	$(BIN)/cnfrl report bench/stability-cpu/runs/* --out bench/stability-cpu --at 20000,50000

bench-sb3: $(STAMP)
	test -x .venv-sb3/bin/python || ($(PYTHON) -m venv .venv-sb3 && .venv-sb3/bin/pip install --quiet torch==2.13.0 stable-baselines3 "gymnasium[mujoco]")
	$(BIN)/python benchmarks/sac_vs_sb3.py --sb3-python .venv-sb3/bin/python --out benchmarks/results/sac_vs_sb3.md

bench-peers: $(STAMP)
	test -x .venv-peers/bin/python || ($(PYTHON) -m venv .venv-peers && .venv-peers/bin/pip install --quiet d3rlpy==2.8.1 onnx onnxscript)
	for task in hopper walker2d halfcheetah; do $(BIN)/cnfrl collect $$task-medium --exist-ok; done
	$(BIN)/cnfrl bench benchmarks/grids/td3bc_iql_cpu.yaml --ray
	$(BIN)/python benchmarks/peers.py --peer-python .venv-peers/bin/python --datasets hopper-medium walker2d-medium \
		halfcheetah-medium --algos td3+bc iql --seeds 0 1 2 --updates 20000 --out bench/peers --with bench/td3bc-iql/runs/*

clean:
	rm -rf $(VENV)
