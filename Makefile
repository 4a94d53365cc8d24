# DossierPost — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
WORKERS ?= 2
PYPROJECT_HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.run-$(PYPROJECT_HASH)
DEV_STAMP := $(VENV)/.dev-$(PYPROJECT_HASH)
# Browser packages (qr-scanner, playwright-core) from the npm registry; re-installed when the lock file changes.
NODE_STAMP := node_modules/.npm-$(shell sha1sum package-lock.json | cut -c1-12)

.DEFAULT_GOAL := help
.PHONY: help run test lint typecheck worker bench migrate seed clean

help: ## List the targets with one line each
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@rm -f $(VENV)/.run-* && touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.dev-* $(VENV)/.run-* && touch $@ $(RUN_STAMP)

$(NODE_STAMP): package.json package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	@rm -f node_modules/.npm-* && touch $@

run: $(RUN_STAMP) $(NODE_STAMP) ## Start everything with demo data at http://127.0.0.1:$(PORT) (SQLite + in-process jobs by default)
	DOSSIERPOST_DEMO=$${DOSSIERPOST_DEMO:-1} $(BIN)/dossierpost migrate
	DOSSIERPOST_DEMO=$${DOSSIERPOST_DEMO:-1} $(BIN)/dossierpost seed --demo
	DOSSIERPOST_DEMO=$${DOSSIERPOST_DEMO:-1} PORT=$(PORT) $(BIN)/dossierpost serve

test: $(DEV_STAMP) $(NODE_STAMP) ## Run the whole test suite (SQLite, PostgreSQL and Redis; starts the servers if it can)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

worker: $(RUN_STAMP) ## Run RQ workers (WORKERS=2 processes) with the scheduler on every queue (needs REDIS_URL, DATABASE_URL)
	@trap 'kill 0' INT TERM; for i in $$(seq $(WORKERS)); do $(BIN)/dossierpost worker & done; wait

migrate: $(RUN_STAMP) ## Apply database migrations
	$(BIN)/dossierpost migrate

seed: $(RUN_STAMP) ## Load reference data (idempotent)
	$(BIN)/dossierpost seed

bench: $(DEV_STAMP) ## Run every bench/bench_*.py, then one table vs ceilings and targets (BENCH_ARGS=--quick: smoke run)
	$(BIN)/python bench/summary.py $(BENCH_ARGS)

clean: ## Remove the virtual environment and the embedded database
	rm -rf $(VENV) instance/*.db instance/*.db-*
