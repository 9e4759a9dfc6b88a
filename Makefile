# The two commands a new user needs: `make run` (the console, embedded mode) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench-ingest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-deps

## run: the console with embedded defaults (SQLite, in-process broker and scheduler) on http://127.0.0.1:8000/admin/
run: $(VENV)/.runtime-deps
	$(BIN)/python manage.py runconsole

## test: the full suite against the real PostgreSQL, Redis and Mosquitto on this machine
test: $(VENV)/.dev-deps
	scripts/ensure-services
	$(BIN)/pytest

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
