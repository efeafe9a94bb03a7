# lblab: the two commands are `make demo` and `make test`. Both run the idempotent setup first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test unit e2e bench clean-venv

setup:
	bash tools/setup.sh

demo: setup
	$(VENV)/bin/lblab demo

test: setup
	$(VENV)/bin/pytest -q tests

unit:
	$(VENV)/bin/pytest -q tests/unit

e2e: setup
	$(VENV)/bin/pytest -q tests/e2e

bench: setup
	$(PY) -m benchmarks.proxy_bench

clean-venv:
	rm -rf $(VENV)
