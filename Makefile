# Both targets set themselves up on a fresh machine: they create .venv and install
# what they need. PYTHON may point at any CPython >= 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python examples/quickstart/main.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# Real peers the tests start themselves (Azurite for Azure Storage), installed locally.
AZURITE := .tools/node_modules/.bin/azurite
$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .tools azurite@3.37.0

test: lint typecheck $(AZURITE)
	$(BIN)/python -m pytest -q

bench: $(STAMP) $(AZURITE)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/sessions.py

clean:
	rm -rf $(VENV) .tools .mypy_cache .pytest_cache .ruff_cache
