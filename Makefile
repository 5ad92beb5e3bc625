# Every target creates or reuses .venv and installs what it needs, idempotently:
# the install step reruns only when pyproject.toml or constraints.txt change.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SIGNAL_PIPELINE_HOME ?= $(CURDIR)/.home
export DAGSTER_HOME ?= $(SIGNAL_PIPELINE_HOME)/dagster

.PHONY: install demo test test-fast ui serve bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@# numba's functions compiled once into its on-disk cache (~25 s on a fresh machine)
	$(BIN)/python -m signal_pipeline.precompile
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/signal-pipeline demo

test: $(STAMP)
	@# pytest exits 5 when it collected nothing; report that as success, not as a crash
	$(BIN)/python -m pytest; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

ui: $(STAMP)
	$(BIN)/signal-pipeline init-home
	$(BIN)/dagster dev -w workspace.yaml

serve: $(STAMP)
	$(BIN)/signal-pipeline db upgrade
	$(BIN)/bentoml serve bentos.signal_service.service:SignalService --port $${PORT:-3000}

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check signal_pipeline signal_pipeline_tests benchmarks bentos
	$(BIN)/ruff format --check signal_pipeline signal_pipeline_tests benchmarks bentos

clean:
	rm -rf .home .pytest_cache build *.egg-info
