# Agentic — the two commands a new user needs: `make run` and `make test`.
# Everything is installed by this file into ./.venv and ./web/node_modules; nothing global is touched.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
NPM ?= npm
HOST ?= 127.0.0.1
PORT ?= 8000

# Stamps: reinstall only when the dependency manifests change.
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
NODE_STAMP := web/node_modules/.installed
E2E_STAMP := web/e2e/node_modules/.installed
UI_INDEX := src/agentic/ui/static/index.html
UI_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig*.json web/eslint.config.js -type f 2>/dev/null)
HAVE_NPM := $(shell command -v $(NPM) >/dev/null 2>&1 && echo yes)
# The browser the end-to-end tests drive (Debian's package; Playwright never downloads one).
CHROMIUM ?= /usr/bin/chromium

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt pytest web-test e2e ui venv dev os-deps bench clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/pyvenv.cfg:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml $(VENV)/pyvenv.cfg
	$(PY) -m pip install --quiet -e .
	@touch $@

# The benchmark peers (Celery, DBOS) come with the development tools: the type checker reads bench/ too.
$(DEV_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@touch $@

venv: $(RUNTIME_STAMP) ## Create .venv with the platform installed

dev: $(DEV_STAMP) ## Create .venv with the platform and the development tools

$(NODE_STAMP): web/package.json web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund
	@touch $@

$(UI_INDEX): $(NODE_STAMP) $(UI_SOURCES)
	cd web && $(NPM) run build

ui: ## Build the web UI into src/agentic/ui/static (needs Node.js)
ifeq ($(HAVE_NPM),yes)
	@$(MAKE) --no-print-directory $(UI_INDEX)
else
	@echo "npm not found: the web UI is not built; the API serves a plain page at / instead."
endif

run: venv ui ## Install, build the UI, migrate and serve at http://$HOST:$PORT, 127.0.0.1:8000 unless given (make run HOST=0.0.0.0 PORT=9000)
	$(BIN)/agentic db upgrade
	$(BIN)/agentic serve --host $(HOST) --port $(PORT) --no-migrate

lint: dev ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fmt: dev ## Format and apply safe lint fixes
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Tools some tests drive that only the OS package manager provides (installed when missing and permitted),
# as command:package: docker-compose validates deploy/, bubblewrap sandboxes the `python` tool, chromium runs
# the browser end-to-end tests.
OS_TOOLS := docker-compose:docker-compose bwrap:bubblewrap chromium:chromium
os-deps: ## Install the OS packages the tests use (docker-compose, bubblewrap, chromium), when missing
	@missing=""; for pair in $(OS_TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing OS packages:$$missing"; \
		(apt-get install -y -qq $$missing >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null)); \
	else echo "Missing OS packages:$$missing (install them with your package manager)"; fi

# The LiteLLM proxy the contract tests run against (tests/contract) lives in a virtualenv of its own, installed
# from a lock: its dependency pins differ from the platform's.
LITELLM_VENV := $(VENV)/litellm-proxy
LITELLM_STAMP := $(LITELLM_VENV)/.installed
$(LITELLM_STAMP): tests/contract/litellm-requirements.txt
	rm -rf $(LITELLM_VENV)
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	@touch $@

pytest: dev ui os-deps $(LITELLM_STAMP) ## The Python suite (both database backends)
	$(BIN)/pytest -q --durations=10 $(PYTEST_ARGS)

web-test: ui ## Web UI type check and unit tests
ifeq ($(HAVE_NPM),yes)
	cd web && $(NPM) run typecheck && $(NPM) test && $(NPM) run lint && $(NPM) run check:api
else
	@echo "npm not found: skipping the web UI tests."; test -z "$$CI"
endif

# The end-to-end tests have their own dependencies (web/e2e/package.json), apart from the app's.
$(E2E_STAMP): web/e2e/package.json web/e2e/package-lock.json
	cd web/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(NPM) ci --no-audit --no-fund
	@touch $@

e2e: dev ui os-deps $(if $(HAVE_NPM),$(E2E_STAMP)) ## Browser end-to-end tests (Playwright, axe) on a real server; screenshots: web/e2e/screenshots
ifeq ($(HAVE_NPM),yes)
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ -n "$$CI" ]; then echo "ERROR: $(CHROMIUM) not found: the browser end-to-end tests cannot run (install the chromium package)." >&2; exit 1; fi; \
		echo "$(CHROMIUM) not found: skipping the browser end-to-end tests (install the chromium package, or run make os-deps as root)."; \
	else \
		cd web/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 E2E_CHROMIUM=$(CHROMIUM) npx --no-install playwright test $(E2E_ARGS); \
	fi
else
	@echo "npm not found: skipping the browser end-to-end tests."; test -z "$$CI"
endif

test: lint web-test e2e pytest ## Everything CI runs: lint, types, web unit and browser tests, the Python suite

bench: dev ## Engine benchmark: ours on SQLite and PostgreSQL beside Celery and DBOS (needs PostgreSQL, Redis)
	$(BIN)/python -m bench.engine $(BENCH_ARGS)

.PHONY: bench-e2e
bench-e2e: dev ## End-to-end benchmark of the product path: real serve and worker processes, SSE, a mock LLM (needs PostgreSQL, Redis)
	$(BIN)/python -m bench.e2e $(BENCH_ARGS)

clean: ## Remove the virtualenv, caches and build output (keeps .agentic data)
	rm -rf $(VENV) web/node_modules web/e2e/node_modules web/e2e/test-results src/agentic/ui/static .pytest_cache .mypy_cache .ruff_cache
