"""Defensive parsing of LLM answers into JSON items.

Endpoints that ignore `response_format` answer with a JSON array, JSON lines, fenced blocks,
prose around JSON, `<think>` sections, trailing commas, or output cut off at max_tokens. Every
shape yields the complete items it contains; a truncated answer yields the items before the cut.

>>> parse_items('Here you go:\\n```json\\n[{"question": "How many?", "sql": "SELECT 1"},\\n {"question": "Wh')
Parsed(items=[{'question': 'How many?', 'sql': 'SELECT 1'}], method='embedded', salvaged=True)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)(?:```|$)", re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_DECODER = json.JSONDecoder(strict=False)  # literal newlines inside strings (multi-line SQL) are fine
# A top-level object that wraps the list we want.
WRAPPERS = ("topics", "samples", "items", "data", "pairs", "questions", "queries", "examples", "results")


@dataclass
class Parsed:
    items: list[dict[str, Any]]
    method: Literal["json", "json-lines", "embedded", "none"]
    salvaged: bool = False  # some text could not be parsed (truncation, prose with broken JSON)
    wrapper: dict[str, Any] = field(default_factory=dict, repr=False)


def _loads(text: str) -> Any:
    try:
        return _DECODER.decode(text)
    except ValueError:
        return _DECODER.decode(_TRAILING_COMMA.sub(r"\1", text))


def _items(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        for key in WRAPPERS:
            if isinstance(value.get(key), list):
                return [v for v in value[key] if isinstance(v, dict)]
        return [value]
    return None


def _json_lines(text: str) -> list[dict[str, Any]] | None:
    lines = [ln.strip().rstrip(",") for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 or not all(ln.startswith("{") for ln in lines):
        return None
    try:
        return [obj for ln in lines if isinstance(obj := _loads(ln), dict)]
    except ValueError:
        return None


def _embedded(text: str) -> tuple[list[dict[str, Any]], bool]:
    """Every JSON value found scanning left to right; a failed `[` or `{` falls through to its
    inner items, which is how a truncated array keeps its complete items."""
    found: list[dict[str, Any]] = []
    failed = False
    i = 0
    while i < len(text):
        if text[i] not in "[{":
            i += 1
            continue
        try:
            value, end = _DECODER.raw_decode(text, i)
        except ValueError:
            try:
                value, end = _DECODER.raw_decode(_TRAILING_COMMA.sub(r"\1", text[i:]), 0)
                end = i + len(text[i:]) if end >= len(text[i:]) else i + _unfixed_end(text[i:], end)
            except ValueError:
                failed = True
                i += 1
                continue
        items = _items(value)
        if items:
            found.extend(items)
        i = end
    return found, failed


def _unfixed_end(text: str, fixed_end: int) -> int:
    """Map an end offset in the comma-fixed text back to the original text."""
    removed = 0
    for m in _TRAILING_COMMA.finditer(text):
        if m.start() - removed >= fixed_end:
            break
        removed += 1
    return fixed_end + removed


def strip_thinking(text: str) -> str:
    return _THINK.sub("", text or "")


def parse_items(text: str) -> Parsed:
    """The JSON objects in an answer, whatever its shape (see the module docstring)."""
    text = strip_thinking(text).strip()
    if not text:
        return Parsed([], "none")
    fences = [m.group(1) for m in _FENCE.finditer(text)] if "```" in text else []
    body = "\n".join(fences) if fences else text
    try:
        value = _loads(body.strip())
        items = _items(value)
        if items is not None:
            return Parsed(items, "json", wrapper=value if isinstance(value, dict) else {})
    except ValueError:
        pass
    if (lines := _json_lines(body)) is not None:
        return Parsed(lines, "json-lines")
    items, failed = _embedded(body)
    if not items and fences:  # a fence around prose: look at the whole answer
        items, failed = _embedded(text)
    return Parsed(items, "embedded" if items else "none", salvaged=failed)


def first_int(value: Any) -> int | None:
    """`20`, `"20"`, `"20个"`, `20.0` -> 20; anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    m = re.search(r"-?\d+", str(value or ""))
    return int(m.group()) if m else None


def pick(item: dict[str, Any], *names: str) -> Any:
    """The first of `names` present in `item`, matched case-insensitively."""
    lowered = {str(k).strip().lower(): v for k, v in item.items()}
    for n in names:
        if n.lower() in lowered and lowered[n.lower()] not in (None, ""):
            return lowered[n.lower()]
    return None
