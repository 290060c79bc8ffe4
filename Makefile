# The commands README gives. `make test` is also what CI runs (.ci/run).
# Everything runs in .venv, which `make deps` creates: a system Python marked
# EXTERNALLY-MANAGED (Debian, Ubuntu) is never touched. `make test PYTHON=python3` uses
# that interpreter as it is instead (CI images that are already set up).
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python

.PHONY: deps demo serve test generate check-generated bench

deps:
	VENV=$(VENV) PYTHON=$(PYTHON) scripts/install-deps.sh

demo: deps
	$(PYTHON) -m anclora_demo

serve: deps
	$(PYTHON) -m exporter serve

# Two pytest workers (pytest-xdist): most tests wait on real processes (redis-server,
# Prometheus, Alertmanager), so two share 2 cores well; `make test TEST_WORKERS=0` runs
# them in one process.
TEST_WORKERS ?= 2

test: deps
	$(PYTHON) -m pytest -q -n $(TEST_WORKERS)

generate:
	$(PYTHON) -m tools.build

check-generated:
	$(PYTHON) -m tools.build --check

bench: deps
	$(PYTHON) -m bench
