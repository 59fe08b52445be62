# Two commands for a fresh machine: `make run` and `make test`. Both bootstrap .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
STAMP := $(VENV)/.installed
WHEELHOUSE := $(VENV)/wheelhouse
DIST ?= dist
UPSTREAM ?=
HOST ?= 127.0.0.1
PORT ?= 8086
WORKERS ?= 1
SOAK_SECONDS ?= 60
# npm packages the slow spec tests drive (linters, a mock server, the TypeScript
# compiler), pinned, installed into .node/ (git-ignored) by `make node-deps`.
NODE_DIR := .node
NODE_BIN := $(NODE_DIR)/node_modules/.bin
NODE_STAMP := $(NODE_DIR)/.installed
NODE_PACKAGES := @redocly/cli@2.77.0 @stoplight/spectral-cli@6.16.3 @stoplight/prism-cli@5.16.0 typescript@5.9.3
TS_CLIENT ?= build/typescript-client

.PHONY: help setup node-deps typescript-client run test test-fast soak lint bench bench-deps spec check-spec spec-update generate check-generated dist java system-deps clean

# Debian packages each bootstrap needs, as command:package pairs: promtool and prometheus
# (interop tests), chromium and chromedriver (the API docs page), InfluxDB 1.x and
# VictoriaMetrics (write destinations of `influx-metrics scrape --write`), node and npm
# (the spec's linters, a mock and a TypeScript client), curl (the HTTPS tests), wrk and
# Go's promhttp in the prometheus binary (bench), a Java runtime (openapi-generator).
TEST_PACKAGES := promtool:prometheus chromium:chromium chromedriver:chromium-driver \
  influxd:influxdb victoria-metrics:victoria-metrics node:nodejs npm:npm curl:curl
BENCH_PACKAGES := wrk:wrk prometheus:prometheus
JAVA_PACKAGES := java:default-jre-headless

# $(call debian-packages,PAIRS,WHO): install the packages of the missing commands when we
# may (root + apt-get), else name them and fail (make then exits 2).
define debian-packages
	@missing=""; \
	for pair in $(1); do command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages for $(2):$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "$(2) needs Debian packages: apt-get install$$missing" >&2; exit 2; fi; \
	fi
endef

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Two environments in one .venv: `make run` installs the service and what it needs
# (RUN_STAMP); `make test` and the other developer targets add the client distributions
# and the development tools (STAMP). The wheelhouse then holds every third-party wheel
# the distributions need, at the versions .venv has, so that tests/test_wheels.py
# installs each wheel alone without a network.
DISTRIBUTIONS := ./contract ./generated/client ./influx-metrics .
# Builds every distribution, installed once into .venv: pip's build isolation would make
# a new environment and fetch it again for each editable install (half of a fresh
# `make run`), and `make dist` builds offline with it.
BUILD_BACKEND := setuptools==84.2.1
$(RUN_STAMP): pyproject.toml contract/pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@echo "installing the service into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/pip install --quiet $(BUILD_BACKEND) > $(VENV)/install.log 2>&1 && \
	  $(BIN)/pip install --quiet --no-build-isolation -e ./contract -e . >> $(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $@

$(STAMP): $(RUN_STAMP) generated/client/pyproject.toml influx-metrics/pyproject.toml
	@echo "installing the clients and the development tools into $(VENV) (log: $(VENV)/install.log)"
	@$(BIN)/pip install --no-build-isolation -e ./generated/client -e ./influx-metrics -e '.[dev]' >> $(VENV)/install.log 2>&1 && \
	  $(BIN)/pip freeze --exclude-editable > $(VENV)/constraints.txt && \
	  $(BIN)/python -c 'import sys, tomllib; print(*(d for p in sys.argv[1:] for d in tomllib.load(open(p + "/pyproject.toml", "rb"))["project"]["dependencies"] if not d.startswith("influxdb-sysinfo")), sep="\n")' \
	    $(DISTRIBUTIONS) > $(VENV)/wheel-requirements.txt && \
	  $(BIN)/pip download --only-binary :all: --dest $(WHEELHOUSE) \
	    --constraint $(VENV)/constraints.txt --requirement $(VENV)/wheel-requirements.txt >> $(VENV)/install.log 2>&1 \
	  || { tail -n 40 $(VENV)/install.log; exit 1; }
	@touch $@

setup: $(STAMP) ## create .venv with the service, the clients, dev tools and a wheelhouse

$(NODE_STAMP): Makefile
	@command -v npm >/dev/null || { echo "make node-deps needs node and npm: make system-deps" >&2; exit 2; }
	@mkdir -p $(NODE_DIR)
	@echo "installing $(NODE_PACKAGES) into $(NODE_DIR)"
	@npm install --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error $(NODE_PACKAGES) > $(NODE_DIR)/install.log 2>&1 \
	  || { tail -n 40 $(NODE_DIR)/install.log; exit 1; }
	@touch $@

node-deps: $(NODE_STAMP) ## install the pinned npm packages the spec tests drive into .node/

typescript-client: $(STAMP) java node-deps ## a typescript-fetch client from openapi/openapi.yaml in TS_CLIENT, compiled with tsc --strict
	rm -rf $(TS_CLIENT)
	$(BIN)/openapi-generator-cli generate --generator-name typescript-fetch \
	  --input-spec openapi/openapi.yaml --output $(TS_CLIENT) --config openapi/generator/typescript.yaml \
	  --openapi-normalizer SET_TAGS_FOR_ALL_OPERATIONS=SystemInformation >/dev/null
	cp openapi/generator/tsconfig.json $(TS_CLIENT)/tsconfig.json
	$(NODE_BIN)/tsc --strict --project $(TS_CLIENT)

run: $(RUN_STAMP) ## run the service (HOST, PORT, WORKERS; more options: .venv/bin/influxdb-sysinfo --help)
	$(BIN)/influxdb-sysinfo --host $(HOST) --port $(PORT) --workers $(WORKERS)

test: lint system-deps node-deps ## lint, then every test: in-process apps and live server processes
	$(BIN)/pytest

test-fast: $(STAMP) ## the tests not marked slow (no lint), property tests on a quarter of their examples, in under a minute
	PROPERTY_EXAMPLES_SHARE=0.25 $(BIN)/pytest -m "not slow"

system-deps: ## install the Debian packages the tests drive when missing (root + apt), else name them
	$(call debian-packages,$(TEST_PACKAGES),make test)

bench-deps: ## install wrk and prometheus for make bench when missing (root + apt), else name them
	$(call debian-packages,$(BENCH_PACKAGES),make bench)

soak: $(STAMP) ## 60 s of mixed load on one live service: exact counts, flat memory (SOAK_SECONDS)
	$(BIN)/python -m tools.soak --seconds $(SOAK_SECONDS)

lint: $(STAMP) ## ruff and mypy --strict on impl/, tests/, tools/, bench/ and the spec tool
	$(BIN)/ruff check impl tests tools bench openapi contract
	$(BIN)/ruff format --check impl tests tools bench openapi contract
	$(BIN)/mypy

bench: $(STAMP) bench-deps ## ratios vs prometheus_client's server and Go's promhttp; about 15 min (QUICK=1: about 5 min)
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,)

spec: $(STAMP) ## derive openapi/openapi.yaml from openapi/upstream/ and overlay.yaml (offline)
	$(BIN)/python -m openapi.spectool build

check-spec: $(STAMP) ## fail when openapi/ is stale, its upstream extract edited, or an upstream operation broken
	$(BIN)/python -m openapi.spectool check

spec-update: $(STAMP) ## take in a full upstream document, report what changed (UPSTREAM=url|path, ALLOW_BREAKING=1)
	@test -n "$(UPSTREAM)" || { echo "usage: make spec-update UPSTREAM=<url or path> [ALLOW_BREAKING=1] [SOURCE_URL=<url of a local copy>]" >&2; exit 2; }
	$(BIN)/python -m openapi.spectool update '$(UPSTREAM)' $(if $(filter 1,$(ALLOW_BREAKING)),--allow-breaking) $(if $(SOURCE_URL),--url '$(SOURCE_URL)')

java: ## install a Java runtime for make generate when missing (root + apt), else name it
	$(call debian-packages,$(JAVA_PACKAGES),make generate)

# The server templates: openapi/generator/templates/server plus the generator's own model
# template with one line added (openapi/generator/model_template.py says why).
SERVER_TEMPLATES := build/server-templates

generate: $(STAMP) java ## regenerate generated/server and generated/client from openapi/openapi.yaml
	rm -rf generated/server generated/client $(SERVER_TEMPLATES)
	mkdir -p generated/server generated/client build
	cp -r openapi/generator/templates/server $(SERVER_TEMPLATES)
	$(BIN)/python openapi/generator/model_template.py $(SERVER_TEMPLATES)
	cp openapi/generator/server.ignore generated/server/.openapi-generator-ignore
	cp openapi/generator/client.ignore generated/client/.openapi-generator-ignore
	$(BIN)/openapi-generator-cli batch --fail-fast openapi/generator/server.yaml openapi/generator/client.yaml >/dev/null

check-generated: generate ## fail when generated/ differs from what make generate writes
	@if [ -n "$$(git status --porcelain -- generated/)" ]; then \
	  git status --porcelain -- generated/; \
	  echo "generated/ is stale: run 'make generate' and commit generated/" >&2; exit 1; fi

dist: $(STAMP) ## the four wheels in dist/ (DIST): service, contract, generated client, influx-metrics
	@rm -rf build generated/client/build contract/build influx-metrics/build
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir $(DIST) $(DISTRIBUTIONS)
	@rm -rf build generated/client/build contract/build influx-metrics/build
	@ls -l $(DIST)/*.whl

clean: ## remove the virtualenv, .node/, dist/ and caches
	rm -rf $(VENV) $(NODE_DIR) $(DIST) .mypy_cache .ruff_cache .pytest_cache .hypothesis
