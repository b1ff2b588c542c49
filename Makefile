# Every task is one command; CI runs the same ones (.ci/run -> make test).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions of every package, so two installs a month apart are the same install;
# pyproject.toml keeps the ranges Micro works with. `make lock` refreshes it.
LOCK := requirements.lock
# The official Stripe Node SDK the e2e flows drive, at package.json's exact version; no lock
# file (it would write the registry's host into the repo), node_modules is not committed.
NODE_SDK := tests/sdk/node
NODE_STAMP := $(NODE_SDK)/node_modules/.installed

.PHONY: install deps test-deps sdk-deps run test test-fast lint typecheck pytest bench build clean clean-data lock

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

## test-deps: deps, the browser the tests drive (chromium, chromium-driver) and the Node SDK
test-deps: install sdk-deps
	$(BIN)/micro dev deps --browser

# Node and npm from Debian's packages when they are missing (as root), then the SDK.
$(NODE_STAMP): $(NODE_SDK)/package.json $(NODE_SDK)/.npmrc
	@command -v npm >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm \
		>/dev/null; } || { echo "install Node.js (>= 16) and npm to run the Stripe SDK tests"; exit 1; }
	cd $(NODE_SDK) && npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
	@touch $@

## sdk-deps: the Stripe Node SDK the e2e tests drive (the Python one is in the lock file)
sdk-deps: $(NODE_STAMP)

## run: the whole stack in the foreground (MICRO_DEV_REPLICAS=N: N processes of every app); Ctrl-C stops it
run: deps
	$(BIN)/micro dev up $(if $(MICRO_DEV_REPLICAS),--replicas $(MICRO_DEV_REPLICAS))

## test: lint, type-check and the whole test suite, with its branch coverage at the end
test: test-deps lint typecheck pytest

## test-fast: the unit tests (tests/unit: pure code, no server, no database), in seconds
test-fast: install
	$(BIN)/pytest tests/unit -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Every Python process the tests start is measured too (COVERAGE_PROCESS_START: see
# [tool.coverage.run] in pyproject.toml); the report fails under its `fail_under`. The 30
# slowest steps are printed, so a run that got slower says where. The files are shared out
# to TEST_WORKERS processes (pytest-xdist), a whole file to one, so a file's module-scoped
# stack starts once; each worker has its own PostgreSQL and Redis (tests/conftest.py).
TEST_WORKERS ?= 3
pytest: test-deps
	rm -f .coverage .coverage.*
	COVERAGE_PROCESS_START=$(CURDIR)/pyproject.toml COVERAGE_FILE=$(CURDIR)/.coverage \
		$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=30; tests=$$?; \
	$(BIN)/coverage combine --quiet && $(BIN)/coverage report; coverage=$$?; \
	exit $$(( tests || coverage ))

## bench: the benchmarks under tests/bench (BENCH=name to pick one)
bench: deps
	$(BIN)/python -m tests.bench $(BENCH)

## build: the wheel (and the command for the image)
build: install
	$(BIN)/python -m build --wheel --outdir dist .
	@echo "image: docker build -f deploy/Dockerfile -t micro:local ."

## clean: build output and caches; clean-data also the local stack's data
clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

clean-data: clean
	-test -x $(BIN)/micro && $(BIN)/micro dev down
	rm -rf .micro
