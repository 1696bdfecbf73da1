# The two commands: `make run` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test unit faults lint install system clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Chromium, Prometheus and Alertmanager from Debian, for the integration tests.
system:
	bash deploy/system-packages.sh

# SOURCE=asterisk feeds the demo through the Asterisk queue_log adapter instead.
SOURCE ?= events

run: $(STAMP)
	$(BIN)/cxpulse --config deploy/cxpulse.example.yaml run --simulate --source $(SOURCE)

# Every benchmark suite with its defaults (about 12 minutes); all figures in bench/results/latest.json.
bench: $(STAMP)
	$(BIN)/cxpulse bench

test: $(STAMP) system
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# The fault suite alone (several minutes; the month under faults about 3): kills, freezes and poison records
# on real processes.
# `make test` runs these too, as part of every test.
FAULTS := tests/integration/test_faults_month.py tests/integration/test_faults_serving.py \
	tests/integration/test_exactness.py tests/integration/test_poison.py
faults: $(STAMP)
	$(BIN)/python -m pytest -s $(FAULTS)

lint: $(STAMP)
	$(BIN)/ruff check --select F,E9 service streams kpis api adapters bench tests
	$(BIN)/mypy service streams kpis api adapters bench

clean:
	rm -rf $(VENV) build *.egg-info test-artifacts
