"""Engine errors as typed failures that carry no data.

An engine's message can hold values from the database (`invalid input syntax for type integer:
"<a cell or a file's first line>"`, MariaDB's `XPATH syntax error: '~<value>'`). What is stored
and shown is the error class, the engine's error code and the first line of the message with
every quoted part that does not appear in the query itself replaced by `'…'` (names and literals
the query wrote stay, so "column "nope" does not exist" still says which). The full engine text
goes only to the `nl2sql_pipeline.execution` debug log, off by default.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

ErrorKind = Literal["rejected", "syntax", "timeout", "runtime"]
LOG = logging.getLogger("nl2sql_pipeline.execution")

_QUOTED = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\"|`[^`]*`")
_TIMEOUT_MARKERS = ("interrupted", "statement timeout", "canceling statement", "max_statement_time",
                    "maximum statement execution time", "query execution was interrupted")
_READONLY_MARKERS = ("readonly database", "read-only transaction", "read only transaction", "query_only",
                     "permission denied", "command denied", "too many attached databases", "not authorized")
_SYNTAX_MARKERS = ("syntax error", "error in your sql syntax", "syntax_error", "unrecognized token", "incomplete input")


def error_code(err: BaseException) -> str | None:
    """PostgreSQL SQLSTATE, MySQL errno or SQLite's result-code name."""
    code = getattr(err, "pgcode", None) or getattr(err, "sqlite_errorname", None)
    args = getattr(err, "args", None) or (None,)
    if code is None and isinstance(args[0], int):
        code = args[0]
    return None if code is None else str(code)


def stripped(message: str, sql: str) -> str:
    """The message without quoted values that the query did not write itself."""
    def keep_or_mask(m: re.Match[str]) -> str:
        inner = m.group()[1:-1]
        return m.group() if inner and inner in sql else m.group()[0] + "…" + m.group()[-1]

    return _QUOTED.sub(keep_or_mask, message)


def classify_error(err: BaseException, sql: str = "") -> tuple[ErrorKind, str]:
    """(kind, message) of a driver error: timeouts and refused writes are told apart from bugs,
    and the message is safe to store (see the module docstring)."""
    orig = getattr(err, "orig", None) or err
    full = str(orig).strip()
    LOG.debug("engine error for %r: %s", sql[:200], full)
    lines = full.splitlines()  # PostgreSQL appends DETAIL/LINE/caret context: keep the message
    first = " ".join(lines[0].split()) if lines else ""
    if isinstance(orig.args[0] if getattr(orig, "args", None) else None, int) and len(orig.args) > 1:
        first = " ".join(str(orig.args[1]).split())  # PyMySQL: (errno, message)
    code = error_code(orig)
    text = f"{type(orig).__name__}{f' [{code}]' if code else ''}: {stripped(first, sql)[:300]}"
    low = first.lower()
    if code in ("57014", "1969", "3024", "1317") or isinstance(orig, TimeoutError) or any(m in low for m in _TIMEOUT_MARKERS):
        return "timeout", text
    if code in ("25006", "42501", "1792", "1142", "1227", "1045", "1044") or any(m in low for m in _READONLY_MARKERS):
        return "rejected", f"the database refused: {text}"
    if code in ("42601", "1064") or any(m in low for m in _SYNTAX_MARKERS):
        return "syntax", text
    return "runtime", text
