"""Pull the SQL query out of a model's raw output.

Models wrap SQL in Markdown fences, explain themselves before and after ("我先解释一下..."),
think aloud in `<think>` blocks, prefix labels ("SQL:", "答案："), end with semicolons or emit
several statements. `extract_sql` returns the first query, without a trailing semicolon.

>>> extract_sql("<think>用户想要数量</think>\\n```sql\\nSELECT count(*) FROM t;\\n```\\n解释：统计行数。")
'SELECT count(*) FROM t'
"""

from __future__ import annotations

import re

# Quoted strings, quoted names and comments are skipped whole, so only a real ";" ends a statement.
_SKIP_OR_SEMICOLON = re.compile(r"'(?:[^']|'')*'?|\"[^\"]*\"?|`[^`]*`?|\[[^\]]*\]?|--[^\n]*|/\*.*?(?:\*/|\Z)|;", re.S)
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_SQL_LANGS = {"sql", "sqlite", "mysql", "postgresql", "postgres", "psql", "tsql", "plsql", "mssql", "duckdb"}
# A query starts with SELECT or WITH at the start of a line, after a label ("SQL:", "答案：",
# "Query ->"), or after prose ending in a colon; a parenthesised query may start with "(".
_QUERY = r"(?:SELECT\b|WITH\s+(?:RECURSIVE\s+)?[^\s(]+\s*(?:\([^)]*\)\s*)?AS\s*\()"
_START = re.compile(r"(?:^|\n|[:：>]|\bsql\b)[ \t]*[`\"']?[ \t]*(\(?[ \t]*" + _QUERY + ")", re.I)
_ANY_START = re.compile(r"\b" + _QUERY, re.I)
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
_SQL_LINE = re.compile(
    r"^\s*(?:[,()]|--|/\*|(?:SELECT|FROM|WHERE|AND|OR|NOT|JOIN|INNER|LEFT|RIGHT|FULL|CROSS|ON|GROUP|HAVING|"
    r"ORDER|LIMIT|OFFSET|UNION|INTERSECT|EXCEPT|WITH|AS|CASE|WHEN|THEN|ELSE|END|IN|EXISTS)\b)",
    re.I,
)
_PROSE_LINE = re.compile(
    r"^\s*(?:[-*]\s|#|>|\d+[.)]\s|(?:this|the|here|note|explanation|where\s+\w+\s+is|it|these)\b[^=<>]*$)",
    re.I,
)


def extract_sql(output: str) -> str:
    """The first SQL query in `output` ("" for an empty output; the stripped text if no query)."""
    text = _THINK.sub("", output)
    if "</think>" in text:  # the opening tag was in the prompt (e.g. Qwen3 templates)
        text = text.rsplit("</think>", 1)[1]
    text = text.strip()
    candidate = _from_fences(text)
    if candidate is None:
        candidate = _from_prose(text)
    return _first_statement(candidate)


def _from_fences(text: str) -> str | None:
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    for wanted in (lambda lang: lang in _SQL_LANGS, lambda lang: lang == ""):
        for lang, body in blocks:
            if wanted(lang) and _ANY_START.search(body):
                return _from_prose(body.strip())
    return None


def _from_prose(text: str) -> str:
    match = _START.search(text) or _ANY_START.search(text)
    if not match:
        return text
    start = match.start(1) if match.re is _START else match.start()
    lines = text[start:].split("\n")
    kept = [lines[0]]
    for line in lines[1:]:
        if not line.strip() or _is_prose(line):
            break
        kept.append(line)
    return "\n".join(kept)


def _is_prose(line: str) -> bool:
    """A line after the query that reads as explanation rather than SQL."""
    if _PROSE_LINE.match(line):
        return True
    if _SQL_LINE.match(line):
        return False
    outside_quotes = re.sub(r"'[^']*'|\"[^\"]*\"|`[^`]*`", "", line)
    return bool(_CJK.search(outside_quotes))


def _first_statement(sql: str) -> str:
    """Text up to the first semicolon outside quotes and comments, trailing semicolons dropped."""
    for match in _SKIP_OR_SEMICOLON.finditer(sql):
        if match.group() != ";":
            continue
        head = sql[: match.start()].strip()
        rest = sql[match.end() :].strip()
        if _ANY_START.match(head.lstrip("( \t")) or not _ANY_START.search(rest):
            return head
        # a non-query statement came first ("USE db; SELECT ..."): take the next one
        return _first_statement(rest)
    return sql.strip()
