# The two README commands: `make run` (the main job on generated data) and `make test`.
# Each creates .venv and installs the package on first use; nothing else needs to be on the machine but Python.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cnfrl collect hopper-random --steps 20000 --exist-ok
	$(BIN)/cnfrl data info hopper-random

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/data_info.py --out benchmarks/results/data_info.md

clean:
	rm -rf $(VENV)
