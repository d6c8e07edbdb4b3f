"""Import-only stand-in for `torchaudio`, used ONLY on the PYTHONPATH of `llamafactory-cli` subprocesses.

Why: LLaMA-Factory 0.9.5 does `import torchaudio` at module level (llamafactory/data/mm_plugin.py)
but only calls it for audio inputs. PyPI's torchaudio wheels are CUDA-linked and break beside the
CPU-only torch this project pins, so CPU installs have no torchaudio and every `llamafactory-cli`
command would die at import. `core.training.llamafactory.subprocess_env()` puts this folder on the
subprocess's PYTHONPATH only when no real torchaudio is importable; text-only NL2SQL training never
touches it. Any attribute use fails loudly instead of silently doing nothing.
"""

from __future__ import annotations

__version__ = "0.0.0+nl2sql-stand-in"


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    raise ImportError(
        f"torchaudio.{name}: this is nl2sql_pipeline's import-only stand-in (LLaMA-Factory imports torchaudio "
        "unconditionally); audio datasets need a real torchaudio build that matches your torch"
    )
