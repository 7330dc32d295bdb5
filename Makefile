# Hearth — developer commands. `make` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run test bench lint format docs clean

help: ## list the commands
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Tests also use tools from npm (Mozilla's ical.js, the Compose schema), from tests/js's lock file.
$(STAMP): pyproject.toml tests/js/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@npm ci --prefix tests/js --no-audit --no-fund --loglevel=error \
	|| echo "no npm or no registry: tests that need tests/js skip (under CI=true, fail)"
	touch $(STAMP)

run: $(STAMP) ## start the whole stack in one process with a demo community
	$(BIN)/hearth dev

test: $(STAMP) ## run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP) ## run the benchmarks under bench/ and print their figures
	@if ls bench/*.py >/dev/null 2>&1; then for b in bench/[!_]*.py; do $(BIN)/python $$b || exit 1; done; \
	else echo "no benchmarks yet"; fi

lint: $(STAMP) ## ruff lint and format check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy hearth services shared

format: $(STAMP) ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: $(STAMP) ## regenerate docs/asyncapi.json and deploy/rabbitmq/definitions.json from the code
	$(BIN)/hearth asyncapi > docs/asyncapi.json
	$(BIN)/hearth topology --definitions > deploy/rabbitmq/definitions.json

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var .pytest_cache
