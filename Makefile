# Every task is one command; CI runs the same ones (.ci/run -> make test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions of every package, so two installs a month apart are the same install;
# pyproject.toml keeps the ranges Micro works with. `make lock` refreshes it.
LOCK := requirements.lock

.PHONY: install deps test-deps run test lint typecheck pytest bench build clean clean-data lock

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

## install: the virtualenv with Micro and its test tools, at the versions of the lock file
install: $(STAMP)

## lock: pin every dependency (and theirs) of pyproject.toml in requirements.lock
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--no-header -o $(LOCK)

## deps: PostgreSQL, psql and Redis (installed with apt when root on Debian)
deps: install
	$(BIN)/micro dev deps

## test-deps: deps, and the browser the tests drive (chromium, chromium-driver)
test-deps: install
	$(BIN)/micro dev deps --browser

## run: the whole stack in the foreground; Ctrl-C stops it
run: deps
	$(BIN)/micro dev up

## test: lint, type-check and the whole test suite
test: test-deps lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: test-deps
	$(BIN)/pytest

## bench: the benchmarks under tests/bench (BENCH=name to pick one)
bench: deps
	$(BIN)/python -m tests.bench $(BENCH)

## build: the wheel (and the command for the image)
build: install
	$(BIN)/python -m build --wheel --outdir dist .
	@echo "image: docker build -f deploy/Dockerfile -t micro:local ."

## clean: build output and caches; clean-data also the local stack's data
clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data: clean
	-test -x $(BIN)/micro && $(BIN)/micro dev down
	rm -rf .micro
