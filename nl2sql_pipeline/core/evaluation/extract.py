"""Pull the SQL query out of a model's raw output.

Models wrap SQL in Markdown fences, explain themselves before and after ("我先解释一下..."),
think aloud in `<think>` blocks, prefix labels ("SQL:", "答案："), end with semicolons or emit
several statements. `extract_sql` returns the first query, without a trailing semicolon.

A statement that writes or defines is never turned into a query: `CREATE VIEW v AS SELECT ...`,
`INSERT ... SELECT`, `DELETE ... WHERE x IN (SELECT ...)`, a trigger whose body selects, or a
query followed by `; DROP ...` all come back from `extract` marked `unsafe` (with the offending
statement as the SQL, which the read-only executor refuses as well).

>>> extract_sql("<think>用户想要数量</think>\\n```sql\\nSELECT count(*) FROM t;\\n```\\n解释：统计行数。")
'SELECT count(*) FROM t'
"""

from __future__ import annotations

import re
from typing import NamedTuple

from nl2sql_pipeline.core.chinese import HAN

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
_CJK = re.compile(f"[\u3000-\u303f{HAN}\uff00-\uffef]")  # Chinese and its punctuation, full-width forms
_SQL_LINE = re.compile(
    r"^\s*(?:[,()]|--|/\*|(?:SELECT|FROM|WHERE|AND|OR|NOT|JOIN|INNER|LEFT|RIGHT|FULL|CROSS|ON|GROUP|HAVING|"
    r"ORDER|LIMIT|OFFSET|UNION|INTERSECT|EXCEPT|WITH|AS|CASE|WHEN|THEN|ELSE|END|IN|EXISTS)\b)",
    re.I,
)
_PROSE_LINE = re.compile(
    r"^\s*(?:[-*]\s|#|>|\d+[.)]\s|(?:this|the|here|note|explanation|where\s+\w+\s+is|it|these)\b[^=<>]*$)",
    re.I,
)


class Extraction(NamedTuple):
    """What the model output holds: its first query, or why it is not a query at all."""

    sql: str
    unsafe: str | None = None  # the reason when the output writes or defines something


def extract_sql(output: str) -> str:
    """The first SQL query in `output` ("" for an empty output; the stripped text if no query)."""
    return extract(output).sql


def extract(output: str) -> Extraction:
    """The first query of `output`, or the writing/defining statement that makes it unsafe.

    >>> extract("CREATE VIEW v AS SELECT a FROM t").unsafe
    'CREATE VIEW defines or writes; a query inside it is not the answer'
    """
    text = _THINK.sub("", output)
    if "</think>" in text:  # the opening tag was in the prompt (e.g. Qwen3 templates)
        text = text.rsplit("</think>", 1)[1]
    text = text.strip()
    region = _fence_body(text)
    if region is None:
        region = text
    if not _WRITE.search(region):  # masking only removes matches: no write anywhere, nothing unsafe
        return Extraction(sql=_first_statement(_from_prose(region)))
    span = _sql_span(region)
    if span is not None:
        found = _writing_statement(span)
        if found is not None:
            return Extraction(sql=found[0], unsafe=found[1])
    return Extraction(sql=_first_statement(_from_prose(region)))


def _fence_body(text: str) -> str | None:
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    for wanted in (lambda lang: lang in _SQL_LANGS, lambda lang: lang == ""):
        for lang, body in blocks:
            if wanted(lang) and (_ANY_START.search(body) or _WRITE.search(_mask(body))):
                return body.strip()
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


# Statements that write or define, as SQL spells them (prose rarely does: "create the view" has
# no object keyword right after CREATE). Searched in text whose quotes and comments are masked.
_OBJECT = (r"(?:TABLE|VIEW|TRIGGER|INDEX|FUNCTION|PROCEDURE|RULE|SCHEMA|DATABASE|SEQUENCE|EVENT|TYPE|DOMAIN|"
           r"EXTENSION|ROLE|USER|POLICY|SERVER|MATERIALIZED\s+VIEW)")
_WRITE = re.compile(
    r"\b(?:(?P<create>CREATE|REPLACE)\s+(?:OR\s+REPLACE\s+|OR\s+ALTER\s+)?(?:(?:TEMP|TEMPORARY|GLOBAL|LOCAL|UNLOGGED|"
    r"UNIQUE|VIRTUAL|RECURSIVE|SECURE|DEFINER\s*=\s*\S+|IF\s+NOT\s+EXISTS)\s+)*" + _OBJECT + r"\b"
    r"|(?P<drop>DROP|ALTER|TRUNCATE|RENAME)\s+" + _OBJECT + r"\b|TRUNCATE\b"
    r"|(?P<into>INTO)\b|(?P<insert>INSERT|UPSERT)\b|DELETE\s+FROM\b|DELETE\s+\w+\s+FROM\b"
    r"|UPDATE\s+(?:OR\s+\w+\s+)?\S+(?:\s+(?:AS\s+)?\w+)?\s+SET\b|MERGE\s+INTO\b|PRAGMA\b|ATTACH\b|DETACH\b"
    r"|VACUUM\b|REINDEX\b|GRANT\b|REVOKE\b|COPY\s+\S+\s+(?:FROM|TO)\b|LOAD\s+DATA\b|CALL\s+\w+"
    r"|EXEC(?:UTE)?\s+\w+|SET\s+(?:GLOBAL\b|SESSION\b|@@|\w+\s*(?:=|TO\b))|LOCK\s+TABLES?\b|COMMENT\s+ON\b"
    r"|ALTER\s+SYSTEM\b|DO\s+\$)",
    re.I,
)
# A writing statement starts a line, follows a label ("SQL:", "答案："), a ";", a "(" (a writing
# CTE) or a sentence's end; elsewhere the word is prose ("look into", "execute this query").
_WRITE_HEAD = re.compile(r"(?:^|[;:：>(]|[.!?。！？]\s)[ \t]*(?P<stmt>" + _WRITE.pattern + ")", re.I | re.M)
_LABEL_END = re.compile(r"[:：]\s*$")  # "Here is the query:" introduces SQL; it is not part of it
_MASKED = re.compile(r"'(?:[^']|'')*'?|\"[^\"]*\"?|`[^`]*`?|\[[^\]]*\]?|--[^\n]*|#[^\n]*|/\*.*?(?:\*/|\Z)|\$\$.*?(?:\$\$|\Z)", re.S)
# A line that starts a statement of its own (so a blank line before it does not end the SQL).
_STATEMENT_LINE = re.compile(r"^\s*(?:" + _QUERY + r"|[A-Z]+\s+(?:OR\s+\w+\s+)?(?:INTO|FROM|TABLE|VIEW|\w+\s+SET)\b|"
                             r"PRAGMA|DROP|ALTER|CREATE|INSERT|UPDATE|DELETE|TRUNCATE|ATTACH|DETACH|VACUUM|GRANT|"
                             r"REVOKE|COPY|CALL|EXEC|SET|LOCK|END|BEGIN|COMMIT|ROLLBACK)\b", re.I)


def _mask(sql: str) -> str:
    """`sql` with quoted strings, quoted names and comments blanked out, offsets kept."""
    return _MASKED.sub(lambda m: m.group()[:1] + " " * (len(m.group()) - 2) + m.group()[-1:] if len(m.group()) > 1 else " ", sql)


def _sql_span(region: str) -> str | None:
    """The SQL around the first query (or writing statement) of `region`: back over the lines
    that do not read as prose, forward over statements until prose. None without any SQL."""
    masked = _mask(region)
    query = _START.search(region) or _ANY_START.search(region)
    write = _WRITE_HEAD.search(masked)  # prose ("look into", "execute this") starts no statement
    if query is None and write is None:
        return None
    starts = {_WRITE_HEAD: "stmt", _START: 1}
    start = min(m.start(starts.get(m.re, 0)) for m in (query, write) if m is not None)
    lines = region[:start].split("\n")
    head = [lines.pop()]  # the text before the statement on its own line
    while lines and lines[-1].strip() and not _is_prose(lines[-1]) and not _LABEL_END.search(lines[-1]):
        head.insert(0, lines.pop())
    rest = region[start:].split("\n")
    body = [rest.pop(0)]
    for i, line in enumerate(rest):
        if not line.strip():
            following = next((r for r in rest[i + 1 :] if r.strip()), "")
            if _STATEMENT_LINE.match(following):
                body.append(line)
                continue
            break
        if _is_prose(line) and not _STATEMENT_LINE.match(line):
            break
        body.append(line)
    return "\n".join(head) + "\n".join(body)


def _writing_statement(span: str) -> tuple[str, str] | None:
    """(the statement, why) for the first statement of `span` that writes or defines."""
    masked = _mask(span)
    head = _WRITE_HEAD.search(masked)
    anywhere = _WRITE.search(masked)
    if head is not None:
        found, start = head.group("stmt"), head.start("stmt")
    elif anywhere is not None and anywhere.group("into"):  # SELECT ... INTO sits inside a query
        found, start = anywhere.group(), anywhere.start()
    else:
        return None
    match = head or anywhere
    begin = max(masked.rfind(c, 0, start) for c in ";:：") + 1  # after a label ("SQL:")
    end = masked.find(";", start + len(found))
    statement = span[begin : end if end >= 0 else len(span)].strip()
    if match.group("into") and not re.search(r"\b(?:INSERT|REPLACE|MERGE|UPSERT)\b", masked[begin:start], re.I):
        return statement, "SELECT ... INTO creates a table or writes a file; it is not a query"
    keyword = found.split()[0].upper()
    if match.group("create") or match.group("drop"):
        target = re.search(_OBJECT, found, re.I)
        keyword += " " + " ".join(target.group().split()).upper() if target else ""
    return statement, f"{keyword} defines or writes; a query inside it is not the answer"
