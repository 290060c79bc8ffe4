# The commands README gives. `make test` is also what CI runs (.ci/run).
PYTHON ?= python3

.PHONY: deps demo serve test generate check-generated bench

deps:
	scripts/install-deps.sh

demo: deps
	$(PYTHON) -m exporter demo

serve: deps
	$(PYTHON) -m exporter serve

test: deps
	$(PYTHON) -m pytest -q

generate:
	$(PYTHON) -m exporter build

check-generated:
	$(PYTHON) -m exporter build --check

bench: deps
	$(PYTHON) -m bench
