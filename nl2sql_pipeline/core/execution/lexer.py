"""One lexer truth: the gate may only judge text that sqlglot reads exactly as the engine does.

The engine runs the original string, not sqlglot's reading of it, so any place where the two
lexers disagree (where a comment ends, where a string ends, what counts as whitespace) hides
code from the gate: PostgreSQL decodes `U&"pg_read_fil\\0065"`, MariaDB ends `--` only before an
ASCII space. This module reads the text with each engine's own rules (a small, strict scanner)
and compares the result with sqlglot's tokens: every character the engine sees as code must lie
in some sqlglot token, no sqlglot token may lie in what the engine sees as a comment, and every
string and quoted name must begin and end at the same place for both. Constructs whose reading
depends on settings or versions are refused outright, with a sentence that names them.

The session settings these rules assume are pinned by the executor on every connection
(`standard_conforming_strings=on`, a known `sql_mode`, UTF-8 client encoding).

>>> import sqlglot
>>> sql = 'SELECT U&"pg_read_fil\\\\0065"(1)'
>>> lexing_problem(sql, "postgres", sqlglot.tokenize(sql, read="postgres"))[:44]
'Unicode-escaped strings or names (U&"..." / '
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from sqlglot.tokens import Token, TokenType

ENGINE_OF_DIALECT = {"sqlite": "sqlite", "postgres": "postgres", "mysql": "mysql", "doris": "mysql",
                     "starrocks": "mysql", "singlestore": "mysql"}
_SPACE = " \t\n\r"
_ONLY_SPACE = re.compile(r"[ \t\n\r]*")
# Plain ASCII code: skipped in one regex step; the scanner stops only at characters that matter.
_PLAIN = re.compile(r"[A-Za-z0-9_ \t\n\r(),.;:=<>!+*%|^~?@{}\]-]+")
_U_AMP_QUOTE = re.compile(r"[ \t\n\r]*['\"]")
_STRING_TOKENS = frozenset(
    getattr(TokenType, n) for n in ("STRING", "NATIONAL_STRING", "BYTE_STRING", "HEX_STRING", "BIT_STRING",
                                    "HEREDOC_STRING", "RAW_STRING", "UNICODE_STRING") if hasattr(TokenType, n)
)
_QUOTED_TOKENS = _STRING_TOKENS | {TokenType.IDENTIFIER}
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")


@dataclass(frozen=True)
class _Rules:
    """What one engine's lexer does with the characters that start quotes and comments."""

    strings: str  # quote characters that start string literals
    idents: str  # quote characters that start quoted names ("[" means [ ... ])
    backslash_escapes: bool  # inside plain strings
    hash_comment: bool
    dash_needs_space: bool  # `--` starts a comment only before an ASCII space/control character
    line_ends: str  # characters that end a `--` comment
    prefixes: str  # letters that may prefix a string (X'..', E'..')
    escape_prefixes: str  # prefixes whose string uses backslash escapes
    dollar_quotes: bool


RULES = {
    "sqlite": _Rules("'", '"`[', False, False, False, "\n", "xX", "", False),
    "postgres": _Rules("'", '"', False, False, False, "\n\r", "eEbBxXnN", "eE", True),
    "mysql": _Rules("'\"", "`", True, True, True, "\n", "xXbBnN", "", False),
}


@dataclass
class _Scan:
    regions: dict[int, tuple[str, int, int]]  # end -> (kind, start of prefix, opening quote)
    comments: list[tuple[int, int]]  # (start, end) inclusive


class LexingRefused(Exception):
    """The text holds something the engine and the gate would read differently (or cannot say)."""


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'unnamed')})"


def _scan(sql: str, rules: _Rules, engine: str) -> _Scan:
    regions: dict[int, tuple[str, int, int]] = {}
    comments: list[tuple[int, int]] = []
    i, n = 0, len(sql)
    while i < n:
        m = _PLAIN.match(sql, i)
        if m:
            # A run of plain code; only `--`, `/*` and prefixed strings inside it need a look.
            j = m.end()
            run = m.group()
            k = run.find("-")
            while k != -1 and run[k + 1 : k + 2] != "-":
                k = run.find("-", k + 1)
            if k == -1:
                i = j
                continue
            i += k
        ch = sql[i]
        nxt = sql[i + 1] if i + 1 < n else ""
        if ch == "-" and nxt == "-":
            after = sql[i + 2] if i + 2 < n else ""
            if rules.dash_needs_space and (not after or after not in _SPACE):
                if after and ord(after) > 127:
                    raise LexingRefused(
                        f"a non-ASCII character ({_describe(after)}) right after `--` at offset {i}: MySQL/MariaDB "
                        "start a comment only at `--` followed by an ASCII space, so the rest of the line would run; "
                        "put a plain space after `--`"
                    )
                raise LexingRefused(
                    f"`--` not followed by a space at offset {i}: MySQL/MariaDB read it as two minus signs, "
                    "other tools as a comment; write `- -` for minus minus or `-- ` for a comment"
                )
            end = _find_any(sql, rules.line_ends, i + 2)
            comments.append((i, end - 1))
            i = end
            continue
        if ch == "#" and rules.hash_comment:
            end = _find_any(sql, "\n", i + 1)
            comments.append((i, end - 1))
            i = end
            continue
        if ch == "/" and nxt == "*":
            third = sql[i + 2 : i + 4]
            # Executed by MySQL/MariaDB, skipped by sqlglot: refused on every engine, as the same
            # text may be checked for one engine and run on another.
            if third[:1] in ("!", "+") or third == "M!":
                raise LexingRefused("executable /*! ... */ comments and /*+ ... */ optimizer hints are not allowed")
            close = sql.find("*/", i + 2)
            if close == -1:
                raise LexingRefused(f"unterminated /* comment at offset {i}")
            if sql.find("/*", i + 2, close) != -1:
                raise LexingRefused(
                    f"a /* inside a /* ... */ comment at offset {i}: PostgreSQL nests comments, MySQL does not; "
                    "remove the inner /*"
                )
            comments.append((i, close + 1))
            i = close + 2
            continue
        if ch == "&" and engine == "postgres" and i > 0 and sql[i - 1] in "uU" and _U_AMP_QUOTE.match(sql, i + 1):
            raise LexingRefused(
                'Unicode-escaped strings or names (U&"..." / U&\'...\') are not allowed: PostgreSQL decodes them, '
                "the gate cannot read them the same way; write the characters themselves"
            )
        if ch in rules.strings:
            # A prefix (E'..', X'..', N'..', MySQL's _utf8mb4'..') is part of the literal: sqlglot's
            # token may start at it or at the quote.
            start = i
            while start > 0 and _word_char(sql[start - 1]) and sql[start - 1] != "$":
                start -= 1
            escapes = rules.backslash_escapes or (
                ch == "'" and start == i - 1 and sql[start] in rules.escape_prefixes
                and (start == 0 or not _word_char(sql[start - 1]))
            )
            i = _string(sql, start, i, ch, escapes, regions)
            continue
        if ch in rules.idents:
            close_ch = "]" if ch == "[" else ch
            i = _string(sql, i, i, close_ch, False, regions, kind="ident", doubling=ch != "[")
            continue
        if ch == "$" and rules.dollar_quotes:
            i = _dollar(sql, i, regions)
            continue
        if ch == "\x00":
            raise LexingRefused("the query contains a NUL character")
        if ord(ch) > 127:
            if unicodedata.category(ch)[0] not in "LMN":
                raise LexingRefused(
                    f"character {_describe(ch)} at offset {i} outside a string or quoted name: engines and the gate "
                    "disagree on what it is; use a plain space or quote the name"
                )
        elif ch not in _SPACE and not ch.isprintable():
            raise LexingRefused(f"control character {_describe(ch)} at offset {i}; use a plain space")
        i += 1
    return _Scan(regions, comments)


def _word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


def _find_any(sql: str, chars: str, start: int) -> int:
    """Index of the first of `chars` at or after start (len(sql) when none)."""
    found = [p for p in (sql.find(c, start) for c in chars) if p != -1]
    return min(found) if found else len(sql)


def _string(sql: str, start: int, quote: int, close: str, backslash: bool, regions: dict, *,
            kind: str = "string", doubling: bool = True) -> int:
    """Index after the literal that opens at `quote`; records its span."""
    i, n = quote + 1, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "\x00":
            raise LexingRefused("the query contains a NUL character")
        if backslash and ch == "\\":
            i += 2
            continue
        if ch == close:
            if doubling and i + 1 < n and sql[i + 1] == close:
                i += 2
                continue
            regions[i] = (kind, start, quote)
            return i + 1
        i += 1
    raise LexingRefused(f"unterminated {'quoted name' if kind == 'ident' else 'string'} starting at offset {quote}")


def _dollar(sql: str, i: int, regions: dict) -> int:
    if i > 0 and _word_char(sql[i - 1]):
        raise LexingRefused(f"a $ inside a name at offset {i}: PostgreSQL and the gate split such names differently")
    m = _DOLLAR_TAG.match(sql, i)
    if not m:
        raise LexingRefused(f"a $ at offset {i} that opens no dollar-quoted string (parameters are not allowed)")
    tag = m.group()
    close = sql.find(tag, m.end())
    if close == -1:
        raise LexingRefused(f"unterminated dollar-quoted string starting at offset {i}")
    end = close + len(tag) - 1
    regions[end] = ("string", i, i)
    return end + 1


def lexing_problem(sql: str, dialect: str, tokens: Sequence[Token]) -> str | None:
    """Why the engine behind `dialect` and sqlglot's `tokens` would read `sql` differently, or None.

    Dialects without an engine scanner here are not checked (the executor only runs these three).
    """
    engine = ENGINE_OF_DIALECT.get(dialect)
    if engine is None:
        return None
    try:
        scan = _scan(sql, RULES[engine], engine)
    except LexingRefused as err:
        return str(err)
    return _disagreement(sql, scan, tokens, engine)


def _disagreement(sql: str, scan: _Scan, tokens: Sequence[Token], engine: str) -> str | None:
    """Compare the engine's reading (scan) with sqlglot's tokens in one merge pass."""
    comments = scan.comments
    n_comments = len(comments)
    regions = scan.regions
    postgres = engine == "postgres"
    c = 0  # first comment that may still overlap the current position
    pos = 0
    for token in tokens:
        start, end, kind = token.start, token.end, token.token_type
        if postgres and kind == TokenType.VAR and token.text.upper() == "UESCAPE":
            return "UESCAPE is not allowed: it changes how PostgreSQL decodes the string before it"
        # The gap before this token must be whitespace or comments for the engine, too (without
        # comments, whitespace alone: one regex step, the common case).
        if start > pos and (n_comments or _ONLY_SPACE.match(sql, pos, start).end() < start):
            problem = _gap_problem(sql, pos, start, comments, c)
            if problem:
                return problem
        if n_comments:
            while c < n_comments and comments[c][1] < start:
                c += 1
            if c < n_comments and comments[c][0] <= end:
                return (f"the engine reads a comment at offset {comments[c][0]} where the gate reads code "
                        f"({sql[comments[c][0]:comments[c][0] + 12]!r}...); remove the comment")
        region = regions.get(end) if regions else None
        if kind in _QUOTED_TOKENS:
            want = "ident" if kind == TokenType.IDENTIFIER else "string"
            if region is None or region[0] != want or not region[1] <= start <= region[2]:
                return f"the gate and the engine disagree on where a quoted string or name ends (offset {end})"
        elif region is not None and region[2] >= start:
            return f"the engine reads a string or quoted name ending at offset {end} that the gate reads as code"
        if end >= pos:
            pos = end + 1
    return _gap_problem(sql, pos, len(sql), comments, c)


def _gap_problem(sql: str, start: int, stop: int, comments: list[tuple[int, int]], c: int) -> str | None:
    """Text in [start, stop) that is neither whitespace nor an engine comment: code the gate skipped."""
    i = start
    while i < stop:
        while c < len(comments) and comments[c][1] < i:
            c += 1
        seg_end = min(stop, comments[c][0]) if c < len(comments) and comments[c][0] < stop else stop
        if seg_end > i:
            m = _ONLY_SPACE.match(sql, i, seg_end)
            if m.end() < seg_end:
                at = m.end()
                return (f"the engine reads code at offset {at} ({sql[at:at + 12]!r}) that the gate reads as "
                        "a comment or skips; rewrite it without the comment")
        if c < len(comments) and comments[c][0] < stop:
            i = comments[c][1] + 1
            c += 1
        else:
            i = stop
    return None
