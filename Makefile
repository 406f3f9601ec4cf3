# MyKey Ledger: `make dev` sets up and starts the embedded default; `make test` sets up and runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint format system contracts clean

dev: system $(STAMP)
	$(BIN)/mykey dev

test: system $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Debian packages the tests and the card bridge need (pcscd, vpcd, pyscard's build deps, Node.js for solc).
system:
	@bash scripts/setup-system.sh

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Rebuild the committed contract artifacts from contracts/src with the pinned solc.
contracts:
	bash contracts/build.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
