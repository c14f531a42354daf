# OpenMMO — one entry point for every task. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install up test lint typecheck unit e2e docs services tools sync-monitoring bench bench-regions bench-tools bench-peers chaos container-test clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py src/openmmo/zone/_fastpath.pyx examples/ctf/pyproject.toml
	@command -v gcc >/dev/null || { echo "install: apt-get install gcc (the compiled input path)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev >/dev/null \
	  || echo "install: no gcc: the zone will run the pure-Python input path (docs/decisions/0006)"; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -e examples/ctf
	touch $(STAMP)

install: $(STAMP)  ## Create .venv and install OpenMMO with its development tools.

up: $(STAMP)  ## Run the whole world locally (gateway :8080, zones :7001 and :7002).
	$(BIN)/openmmo up

services:  ## Start PostgreSQL, Redis and RabbitMQ if they are not running (for the tests).
	scripts/services.sh

tools:  ## Install the deployment-checking tools into .tools/ (helm, kubectl, checkov, ...).
	scripts/tools.sh

sync-monitoring:  ## Copy deploy/monitoring/ (and the backup script) into the Helm chart and Kustomize.
	scripts/sync-monitoring.sh

lint: $(STAMP)  ## ruff lint and format check.
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)  ## mypy --strict on src and the example game.
	$(BIN)/mypy src examples/ctf/ctf

unit: $(STAMP)  ## Fast tests (no server processes).
	$(BIN)/pytest -m "not e2e" -q

e2e: $(STAMP)  ## End-to-end tests with real processes and sockets.
	$(BIN)/pytest -m e2e -q

test: services tools lint typecheck  ## Everything: lint, types, unit, integration, end-to-end, containers.
	$(BIN)/pytest -q
	scripts/container-smoke.sh

bench: $(STAMP) services bench-tools  ## Benchmarks (minutes): tick cost, bandwidth, players per core, HTTP, cross-server, 5,000 players.
	$(BIN)/python benchmarks/tick_cost.py --protocol 1 2
	$(BIN)/python benchmarks/bandwidth.py
	$(BIN)/python benchmarks/capacity.py --steps 500 1000 1250 1500
	$(BIN)/python benchmarks/http_gateway.py
	$(BIN)/python benchmarks/cross_server.py
	$(BIN)/python benchmarks/crowd.py --bots 5000 --movers 1000

bench-regions: $(STAMP) services  ## Three regions in network namespaces, delays between them (root, ~1 min).
	$(BIN)/python benchmarks/regions_netns.py

bench-tools:  ## What the benchmarks run besides Python: wrk (Debian), and gcc for the C reference.
	@command -v wrk >/dev/null || { echo "bench-tools: apt-get install wrk"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >/dev/null; }
	@command -v gcc >/dev/null || { echo "bench-tools: apt-get install gcc"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev >/dev/null; }

bench-peers: $(STAMP) services bench-tools  ## Ours against a C epoll server and Colyseus, same harness (~30 min).
	$(BIN)/python benchmarks/reference.py --steps 1500 2000 2500 3000 --c-steps 1500 2000 3000 4000 5000
	$(BIN)/python benchmarks/reference.py --servers ours --steps 200 400 600 800 --out reports/reference-small.json
	$(BIN)/python benchmarks/colyseus.py --steps 200 400 600 800

chaos: $(STAMP) services  ## Every chaos scenario, long versions (200 players, 30 s outages; ~15 min).
	OPENMMO_CHAOS_LONG=1 $(BIN)/pytest -q -s tests/chaos

container-test: $(STAMP)  ## Build the image with podman, run compose.yaml, play through nginx (1-3 min).
	scripts/container-smoke.sh

clean:  ## Remove the virtualenv and caches.
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

docs: $(STAMP)  ## Regenerate the generated parts of docs/reference.
	{ cat docs/reference/config.head.md; $(BIN)/python -c 'from openmmo.config import reference_markdown as r; print(r(), end="")'; } > docs/reference/config.md
	$(BIN)/python -c 'import json; from openmmo.gateway.openapi import openapi_document as d; print(json.dumps(d(), indent=2))' > docs/reference/openapi.json
