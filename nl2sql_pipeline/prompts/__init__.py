"""Prompt templates of the LLM stages. `{name}` placeholders are filled by `render`; other braces
(the JSON examples) stay as written. Their bytes are part of the assets' code versions."""

from __future__ import annotations

import re
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent
_SLOT = re.compile(r"\{(\w+)\}")


def template(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8")


def render(name: str, **values: object) -> str:
    """The template `name` with each `{key}` in `values` replaced; unknown braces are left alone."""
    text = template(name)
    missing = sorted({m for m in _SLOT.findall(text) if m not in values and m.isidentifier() and not m.isdigit()})
    if missing:
        raise KeyError(f"prompt {name!r} needs values for {missing}")
    return _SLOT.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)
