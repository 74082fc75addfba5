# Kizuna — the two commands: `make demo` and `make test`. Both set everything up on a fresh machine
# (needs only Python >= 3.11 and Node >= 20) and are safe to run again.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
CDK_ENV := CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

.PHONY: demo test test-unit test-functional test-infra test-e2e test-security synth bench local clean chromium

demo: $(VENV)/.local-installed
	$(VENV)/bin/kizuna demo

local: $(VENV)/.local-installed
	$(VENV)/bin/kizuna local

test: $(VENV)/.test-installed node_modules/.installed chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -n 2 --dist loadfile tests

test-unit test-functional test-infra test-e2e test-security: test-%: $(VENV)/.test-installed node_modules/.installed
	$(PY) -m pytest -q tests/$*
test-e2e: chromium

# The dashboard's e2e test renders it in headless Chromium (Debian's package, with a Japanese font), installed here
# once when missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (the dashboard test renders in it)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-ipafont-gothic; }

synth: $(VENV)/.test-installed node_modules/.installed
	$(CDK_ENV) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npx cdk synth -q --no-notices --no-version-reporting
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

bench: $(VENV)/.bench-installed
	$(PY) bench/run.py

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Kizuna needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)

# The demo needs only the runtime and local-mode extras; the CDK toolchain is for tests and deployment.
$(VENV)/.local-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[local]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[test,infra]'
	touch $@ $(VENV)/.local-installed

# The benchmarks need what the tests need, and locust for the load run (bench/load_api.py).
$(VENV)/.bench-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e '.[bench,infra]'
	touch $@ $(VENV)/.test-installed $(VENV)/.local-installed

node_modules/.installed: package.json package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || (echo "Kizuna needs Node >= 20" && exit 1)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) node_modules cdk.out build .pytest_cache
