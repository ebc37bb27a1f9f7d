# Personio Sync: the commands a newcomer needs.
#   make demo   install, seed a demo organization, start sandbox + scheduler + dashboard
#   make test   install, lint, run every test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install chromium postgres lint test test-fast bench demo run clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium; never a browser download.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The PostgreSQL tests need a local server: Debian's postgresql, a role `sync` (password `sync`).
postgres:
	@command -v pg_lsclusters >/dev/null 2>&1 || { \
	  echo "Installing Debian's postgresql for the PostgreSQL tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@pg_lsclusters --no-header | grep -q online || service postgresql start >/dev/null
	@cd / && for i in $$(seq 30); do su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1 && break; sleep 1; done
	@cd / && { su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'sync'\"" | grep -q 1 || \
	  su postgres -c "psql -qc \"CREATE ROLE sync LOGIN SUPERUSER PASSWORD 'sync'\""; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --explicit-package-bases sync storage screens dashboard.py bench sandbox
	$(VENV)/bin/lint-imports

test: $(STAMP) chromium postgres lint
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not browser"

bench: $(STAMP) postgres
	$(PY) -m bench
	$(PY) -m bench multitenant --orgs 40
	$(PY) -m bench latency

demo: $(STAMP)
	$(PY) -m sync.demo

run: $(STAMP)
	$(PY) -m sync.launch

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
