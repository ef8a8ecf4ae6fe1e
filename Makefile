# One entry point for developers and CI. `make test` works on a fresh clone: it creates the
# virtualenv, installs both requirement files and runs every test tier in its own process
# (Pulumi mocks keep process-global state, and a tier that collects no test fails the run).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
TIERS := infra scoring functions api policy e2e

.PHONY: install test lint bench local demo clean $(addprefix test-,$(TIERS))

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

lint: $(DEPS)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

bench: $(DEPS)
	@set -e; for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
