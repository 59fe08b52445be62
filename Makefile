# Two commands for a fresh machine: `make run` and `make test`. Both bootstrap .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UPSTREAM ?=
HOST ?= 127.0.0.1
PORT ?= 8086
WORKERS ?= 1
SOAK_SECONDS ?= 60

.PHONY: help setup run test soak lint bench spec check-spec spec-update generate check-generated java system-deps clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml generated/server/setup.py generated/client/pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "installing the service, generated/ and dev tools into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/pip install --upgrade pip > $(VENV)/install.log 2>&1 && \
	  $(BIN)/pip install -e generated/server -e generated/client -e '.[dev]' >> $(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $@

setup: $(STAMP) ## create .venv with the service, the generated packages and dev tools

run: $(STAMP) ## run the service (HOST, PORT, WORKERS; more options: .venv/bin/influxdb-sysinfo --help)
	$(BIN)/influxdb-sysinfo --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: lint system-deps ## lint, then every test against live server processes
	$(BIN)/pytest

# Debian packages the tests drive: promtool and prometheus (interop), chromium and
# chromedriver (the API docs page). Installed when missing and we may (root + apt).
system-deps:
	@missing=""; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "the tests need Debian packages: apt-get install$$missing" >&2; exit 1; fi; \
	fi

soak: $(STAMP) ## 60 s of mixed load on one live service: exact counts, flat memory (SOAK_SECONDS)
	$(BIN)/python -m tests.soak --seconds $(SOAK_SECONDS)

lint: $(STAMP) ## ruff and mypy --strict on impl/, tests/, bench/ and the spec tool
	$(BIN)/ruff check impl tests bench openapi
	$(BIN)/ruff format --check impl tests bench openapi
	$(BIN)/mypy

bench: $(STAMP) ## ratios vs prometheus_client's server and Go's promhttp, ~4 min (QUICK=1: <1 min; needs wrk)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

spec: $(STAMP) ## derive openapi/openapi.yaml from openapi/upstream/ and overlay.yaml (offline)
	$(BIN)/python openapi/spectool.py build

check-spec: $(STAMP) ## fail when openapi/ is stale, its upstream extract edited, or an upstream operation broken
	$(BIN)/python openapi/spectool.py check

spec-update: $(STAMP) ## take in a full upstream document, report what changed (UPSTREAM=url|path, ALLOW_BREAKING=1)
	@test -n "$(UPSTREAM)" || { echo "usage: make spec-update UPSTREAM=<url or path> [ALLOW_BREAKING=1] [SOURCE_URL=<url of a local copy>]" >&2; exit 2; }
	$(BIN)/python openapi/spectool.py update '$(UPSTREAM)' $(if $(filter 1,$(ALLOW_BREAKING)),--allow-breaking) $(if $(SOURCE_URL),--url '$(SOURCE_URL)')

java:
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing a Java runtime for openapi-generator"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends default-jre-headless >/dev/null; \
	  else echo "make generate needs a Java runtime: apt-get install default-jre-headless" >&2; exit 1; fi; }

generate: $(STAMP) java ## regenerate generated/server and generated/client from openapi/openapi.yaml
	rm -rf generated/server generated/client
	mkdir -p generated/server generated/client
	cp openapi/generator/server.ignore generated/server/.openapi-generator-ignore
	cp openapi/generator/client.ignore generated/client/.openapi-generator-ignore
	$(BIN)/openapi-generator-cli batch --fail-fast openapi/generator/server.yaml openapi/generator/client.yaml >/dev/null

check-generated: generate ## fail when generated/ differs from what make generate writes
	@if [ -n "$$(git status --porcelain -- generated/)" ]; then \
	  git status --porcelain -- generated/; \
	  echo "generated/ is stale: run 'make generate' and commit generated/" >&2; exit 1; fi

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
