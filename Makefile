# SmartSlot: every command a developer or CI runs. `make` lists them; each target says what it does after "##".
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
# The editable SmartSlot packages; the shared library first.
PACKAGES := libs/common services/gateway services/booking services/availability services/waitlist services/notifier \
	services/console
SERVICES := gateway booking availability waitlist notifier console
# The services that own a database schema (the console owns none: it is a client of the public API).
MIGRATED := $(filter-out console,$(SERVICES))
INSTALL_STAMP := var/stamps/install
# The pinned dependencies, each with its hashes, compiled in this order from requirements/<name>.in, each one
# constrained by those before it (a package two of them need has one version): runtime (what the services run, the
# only one the images install), build (the build backend of the SmartSlot packages), dev (tools, tests, benchmarks).
LOCKS := requirements/runtime.lock requirements/build.lock requirements/dev.lock
# Extra options for make lock, e.g. LOCK_ARGS="--upgrade-package aiohttp" (or --upgrade: every package).
LOCK_ARGS ?=
compile_lock = $(BIN)/uv pip compile --quiet requirements/$(1).in -o requirements/$(1).lock --python-version 3.11 \
	--generate-hashes $(LOCK_ARGS)

# Test tiers. A directory listed here that is missing, or one that collects no test, fails its tier
# (scripts/test-tier.sh): a tier never passes by running nothing.
UNIT_TESTS := $(addsuffix /tests/unit,$(PACKAGES)) bench/tests
INTEGRATION_TESTS := $(addsuffix /tests/integration,$(PACKAGES)) tests/tracing tests/deploy
E2E_TESTS := tests/e2e
# The web console in a real headless Chromium (Debian's), driven by Playwright, against the whole stack.
BROWSER_TESTS := tests/browser
CHAOS_TESTS := tests/chaos
TIER := scripts/test-tier.sh
# Extra pytest options for any tier, e.g. make test-unit PYTEST_ARGS="-k hold -x".
PYTEST_ARGS ?=
export PYTEST_ARGS

.PHONY: help install lock lint infra infra-status infra-stop replica test-tools clean-machine migrate run test \
	test-unit test-int test-e2e test-browser bench bench-full chaos soak restore-drill up down clean

help: ## List the targets
	@echo "Usage: make <target>"
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-13s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# --- Python environment ------------------------------------------------------------------------------------

install: $(INSTALL_STAMP) ## Create .venv, install the three locks (hashes required), every package (editable) and shellcheck
	@command -v shellcheck >/dev/null || scripts/infra.sh tools

# SmartSlot runs on Python 3.11 (Debian 12's python3); another version would build a venv the lock does not fit.
PYTHON_IS_3_11 = $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null
PYTHON_FOUND = $$($(PYTHON) -c 'import sys; print("Python", sys.version.split()[0])' 2>/dev/null || echo "no Python")
$(VENV)/pyvenv.cfg:
	@$(PYTHON_IS_3_11) || { echo "error: SmartSlot needs Python 3.11 and '$(PYTHON)' is $(PYTHON_FOUND):" \
		"install python3.11 or name it with make PYTHON=..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# touch: pip leaves an already-installed uv untouched, and make would otherwise rerun this rule every time.
$(BIN)/uv: $(VENV)/pyvenv.cfg
	$(BIN)/pip install -q uv==$(UV_VERSION)
	@touch $@

# Reinstall only when a lock or a package's metadata changed (or the venv was recreated). The SmartSlot packages
# come from the checkout (editable), so they carry no hash: installed apart, without dependencies (all in the locks).
$(INSTALL_STAMP): $(LOCKS) $(wildcard $(addsuffix /pyproject.toml,$(PACKAGES))) $(BIN)/uv
	$(BIN)/uv pip install --python $(BIN)/python --require-hashes $(addprefix -r ,$(LOCKS))
	$(BIN)/uv pip install --python $(BIN)/python --no-build-isolation --no-deps $(addprefix -e ,$(PACKAGES))
	@mkdir -p $(@D) && touch $@

lock: $(BIN)/uv ## Recompile requirements/*.lock (with hashes) from their .in files, keeping current pins that still fit
	$(call compile_lock,runtime)
	$(call compile_lock,build)
	$(call compile_lock,dev)

# mypy checks every package's src folder in one run; MYPYPATH names those folders as the roots of module names
# (explicit_package_bases in pyproject.toml), so a new services/*/src is checked as soon as it exists.
TYPED_SOURCES := libs/common/src $(sort $(wildcard services/*/src))
empty :=
space := $(empty) $(empty)
# Every shell script under scripts/: *.sh, and any other file whose first line is a sh or bash shebang.
SHELL_SCRIPTS = $(sort $(wildcard scripts/*.sh) \
	$(shell awk 'FNR == 1 && /^#!.*[/ ](ba|da)?sh( |$$)/ { print FILENAME }' $$(find scripts -type f ! -name '*.pyc')))

lint: install ## Lint the whole repository: ruff, mypy --strict over every package's src, shellcheck over scripts/
	$(BIN)/ruff check .
	MYPYPATH=$(subst $(space),:,$(TYPED_SOURCES)) $(BIN)/mypy $(TYPED_SOURCES)
	@command -v shellcheck >/dev/null || { echo "make lint needs shellcheck: scripts/infra.sh tools" >&2; exit 1; }
	shellcheck $(SHELL_SCRIPTS)

# --- Local servers -----------------------------------------------------------------------------------------

infra: ## Make sure PostgreSQL, Redis and RabbitMQ answer on localhost (start them, or install and start them)
	scripts/infra.sh ensure

replica: infra ## Make sure a streaming read replica of the local PostgreSQL answers on 127.0.0.1:5433
	scripts/infra.sh replica

infra-status: ## Show which local servers are up and which scripts/infra.sh started
	scripts/infra.sh status

infra-stop: ## Stop only the servers scripts/infra.sh started (never ones that were already running)
	scripts/infra.sh stop-started

test-tools: ## Make sure promtool, kubectl (or kustomize), redis-server and chromium are here for the test tiers
	scripts/infra.sh test-tools

clean-machine: ## Undo what make run and make test changed on this machine (and only that); one line per change
	scripts/infra.sh clean-machine

migrate: install infra ## Apply every service's migrations (SMARTSLOT_DATABASE_URL, default the local smartslot db)
	$(BIN)/smartslot-migrate $(MIGRATED)

run: ## Run the whole stack here: servers, replica, services, mail sink, Prometheus, demo data; Ctrl-C stops it
	scripts/run.sh

# --- Tests and load ----------------------------------------------------------------------------------------

test: install infra replica test-tools lint ## What CI runs: lint, unit, integration, end-to-end, browser, fast fault tests (stops at a failure)
	$(TIER) unit $(UNIT_TESTS)
	$(TIER) integration $(INTEGRATION_TESTS)
	$(TIER) e2e $(E2E_TESTS)
	$(TIER) browser $(BROWSER_TESTS)
	PYTEST_ARGS="$(PYTEST_ARGS) -m chaos_fast" $(TIER) chaos $(CHAOS_TESTS)

test-unit: install ## Unit tests: no servers needed, seconds
	$(TIER) unit $(UNIT_TESTS)

test-int: install infra replica test-tools ## Integration tests against the real PostgreSQL (and replica), Redis and RabbitMQ
	$(TIER) integration $(INTEGRATION_TESTS)

test-e2e: install infra ## End-to-end tests: the whole stack through the gateway
	$(TIER) e2e $(E2E_TESTS)

test-browser: install infra test-tools ## Browser tests: the web console in headless Chromium against the whole stack
	$(TIER) browser $(BROWSER_TESTS)

# The broker outage lasts a full minute; SMARTSLOT_CHAOS_BROKER_OUTAGE_SECONDS=10 shortens it. Booking's stateful
# property test runs here at length: SMARTSLOT_STATEFUL_EXAMPLES (300 here, 20 in make test) random sequences.
chaos: install infra ## Fault-injection tests (tests/chaos): every scenario; then booking's stateful test at length
	$(TIER) chaos $(CHAOS_TESTS)
	SMARTSLOT_STATEFUL_EXAMPLES=$${SMARTSLOT_STATEFUL_EXAMPLES:-300} $(BIN)/pytest -q -rs services/booking/tests/integration/test_stateful.py

# Its own scratch PostgreSQL (the machine's binaries, a temporary directory, a free port): the shared one is untouched.
restore-drill: install infra ## Back up PostgreSQL while clients book, restore it to a point in time, check the restored data
	$(BIN)/python scripts/restore_drill.py

bench: install ## Short load test (python -m bench)
	$(BIN)/python -m bench

bench-full: install ## Full load test (python -m bench --full)
	$(BIN)/python -m bench --full

# Not in make test or CI: 30 minutes by default (SOAK_MINUTES=3 make soak for a short one; SOAK_RATE, SOAK_RSS_LIMIT).
soak: install infra ## The mixed day at half its knee with a fault every few minutes; fails on leaks, stale rows, errors
	$(BIN)/python -m bench.soak

# --- Containers --------------------------------------------------------------------------------------------

NEED_DOCKER := docker compose version >/dev/null 2>&1 || { echo "this target needs Docker with the compose plugin" >&2; exit 1; }

up: ## The same stack in containers, images built, demo data seeded as by make run (needs a Docker engine)
	@$(NEED_DOCKER)
	docker compose up --build -d --wait
	docker compose run --rm seed

down: ## Stop and remove the containers of make up (needs a Docker engine)
	@$(NEED_DOCKER)
	docker compose down

# --- Housekeeping ------------------------------------------------------------------------------------------

# var/run stays: it records the servers scripts/infra.sh started and the pids of a running stack.
clean: ## Remove runtime state (logs, caught mail, Prometheus data, stamps) and caches; keeps .venv and var/run
	if [[ -d var ]]; then find var -mindepth 1 -maxdepth 1 ! -name run -exec rm -rf {} +; fi
	find . -path ./.venv -prune -o -type d \( -name __pycache__ -o -name .pytest_cache -o -name .ruff_cache \
		-o -name .hypothesis \) -prune -exec rm -rf {} +
