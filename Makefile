# sohoa — the two commands: `make run` and `make test`. Both set up what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help run test system system-test venv lint check bench clean

help: ## show the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

system: .stamp-system ## install the Debian packages (tesseract, ghostscript, qpdf, fonts, softhsm2, redis)
.stamp-system: scripts/apt-packages.txt scripts/setup-system.sh
	bash scripts/setup-system.sh
	touch $@

system-test: .stamp-system-test ## the test-only Debian packages (the browser)
.stamp-system-test: scripts/apt-packages-test.txt scripts/setup-system.sh
	bash scripts/setup-system.sh scripts/apt-packages-test.txt
	touch $@

venv: .stamp-venv ## create .venv with the pinned Python packages
.stamp-venv: pyproject.toml requirements.lock requirements-test.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r requirements.lock -r requirements-test.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

run: system venv ## start the API and a worker on the embedded default and print the URL
	OMP_THREAD_LIMIT=1 $(BIN)/sohoa run --host $(HOST) --port $(PORT)

test: system system-test venv ## run the whole test suite against real services
	bash scripts/test.sh

lint: venv ## ruff
	$(BIN)/ruff check .

check: venv ## lint, format and types in under a minute, without the test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: system venv ## benchmark the pipeline against plain ocrmypdf
	OMP_THREAD_LIMIT=1 $(BIN)/python bench/pipeline.py

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) data .stamp-*
