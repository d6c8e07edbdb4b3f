"""Split SQL text into statements (dialect-aware), tell queries from everything else, dedup by template.

Splitting uses sqlglot's tokenizer of the database's dialect, so a `;` inside a string, a quoted
name, a comment or a PostgreSQL dollar-quoted body never splits a statement. A `-- question: ...`
comment line directly above a statement (only comment lines between them) is its question, kept
verbatim.

>>> [s.sql for s in split_statements("SELECT 'a;b' FROM t; -- x\\nSELECT 2", "sqlite", "f.sql")]
["SELECT 'a;b' FROM t", 'SELECT 2']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

from nl2sql_pipeline.core.execution import parse_query
from nl2sql_pipeline.core.querylog.models import LoggedStatement
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.sql_template import sql_template

_QUESTION = re.compile(r"^\s*(?:--|#)\s*question\s*[:：]\s*(?P<q>.*?)\s*$", re.IGNORECASE)
_COMMENT_LINE = re.compile(r"^\s*(--|#|/\*|\*)")

# First keyword -> what kind of statement it is, for the drop report.
_KINDS = {
    "DML": {"INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "UPSERT", "COPY", "LOAD", "CALL", "EXEC", "EXECUTE", "DO"},
    "DDL": {"CREATE", "ALTER", "DROP", "TRUNCATE", "RENAME", "COMMENT", "GRANT", "REVOKE"},
    "transaction or session": {"BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "RESET", "USE",
                               "LOCK", "UNLOCK", "DECLARE", "PREPARE", "DEALLOCATE", "DISCARD", "LISTEN", "NOTIFY"},
    "utility": {"SHOW", "EXPLAIN", "DESCRIBE", "DESC", "VACUUM", "ANALYZE", "OPTIMIZE", "PRAGMA", "KILL", "FLUSH",
                "CHECKPOINT", "CLUSTER", "REINDEX", "REFRESH", "ATTACH", "DETACH"},
}


def statement_kind(first_word: str) -> str:
    word = first_word.upper()
    return next((kind for kind, words in _KINDS.items() if word in words), "other")


def _question(preamble: str) -> str | None:
    """The `-- question:` line of the comment block right above a statement."""
    lines = preamble.splitlines()
    if lines and not preamble.endswith(("\n", "\r")) and not lines[-1].strip():
        lines.pop()  # the indentation in front of the statement itself
    for line in reversed(lines):
        if not line.strip():
            return None  # a blank line separates the comment from the statement
        match = _QUESTION.match(line)
        if match:
            return match.group("q") or None
        if not _COMMENT_LINE.match(line):
            return None
    return None


def _batch_separators(tokens: list) -> set[int]:
    """Token positions of T-SQL's `GO [count]` lines (batch separators, no statement of their own)."""
    out: set[int] = set()
    for i, token in enumerate(tokens):
        starts_line = i == 0 or tokens[i - 1].line != token.line
        if token.token_type == TokenType.COMMAND and token.text.upper() == "GO" and starts_line:
            out.add(i)
            if i + 1 < len(tokens) and tokens[i + 1].line == token.line and tokens[i + 1].token_type == TokenType.NUMBER:
                out.add(i + 1)
    return out


def split_statements(text: str, dialect: str, origin: str) -> list[LoggedStatement]:
    """Statements of a SQL file (comments inside a statement stay with it), each with its line.

    Raises sqlglot's TokenError when the text cannot be tokenized (an unterminated string)."""
    tokens = sqlglot.tokenize(text, read=dialect)
    out: list[LoggedStatement] = []
    start: int | None = None  # offset of the current statement's first token
    end = 0
    boundary = 0  # offset just after the previous statement's `;`
    separators = _batch_separators(tokens) if dialect == "tsql" else set()
    for i, token in enumerate([*tokens, None]):
        if token is None or token.token_type == TokenType.SEMICOLON or i in separators:
            if start is not None:
                line = text.count("\n", 0, start) + 1
                out.append(LoggedStatement(sql=text[start:end + 1].strip(), question=_question(text[boundary:start]),
                                           origin=f"{origin}:{line}"))
            start = None
            boundary = token.end + 1 if token is not None else len(text)
            continue
        if start is None:
            start = token.start
        end = token.end
    return out


@dataclass
class Classified:
    """A statement's verdict: a single side-effect-free query (tree) or why it is dropped."""

    tree: exp.Expression | None
    reason: str | None = None
    detail: str = ""


def _first_word(sql: str, dialect: str) -> str:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError:
        tokens = []
    return tokens[0].text.upper() if tokens else (sql.split(None, 1) or [""])[0].upper()


def _root_kind(sql: str, dialect: str) -> str | None:
    """`DML (DELETE)` for `WITH old AS (...) DELETE ...`: what the statement does, not its first word."""
    try:
        root = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return None
    word = root.key.upper()
    kind = statement_kind(word)
    return f"{kind} ({word})" if kind != "other" else None


def classify(sql: str, dialect: str) -> Classified:
    """The executor's own gate (exactly one query, no data-modifying part) decides; nothing runs here."""
    first = _first_word(sql, dialect)
    kind = statement_kind(first)
    if kind != "other":
        return Classified(None, f"not a query: {kind} ({first})")
    tree, verdict = parse_query(sql, dialect)
    if tree is None and (parameterized := _with_parameters(sql, dialect)) is not None:
        # the gate refuses `$1`/`?` (no engine reads them in a statement run as is); it judges the
        # statement with each parameter as NULL, and the parameters are filled from real rows later
        original, masked = parameterized
        masked_tree, verdict = parse_query(masked, dialect)
        tree = original if masked_tree is not None else None
    if tree is not None:
        return Classified(tree)
    if verdict.kind == "syntax":
        return Classified(None, "syntax: does not parse", verdict.reason or "")
    reason = verdict.reason or "rejected"
    if reason.startswith("exactly one statement"):
        return Classified(None, "not a single query: several statements", reason)
    if reason.startswith("only queries"):
        return Classified(None, f"not a query: {_root_kind(sql, dialect) or first}", reason)
    return Classified(None, "not read-only: " + re.sub(r"'[^']*'|\(.*$", "", reason).strip()[:60], reason)


def _with_parameters(sql: str, dialect: str) -> tuple[exp.Expression, str] | None:
    """(the parsed statement, its SQL with every parameter as NULL) when it has parameters."""
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (SqlglotError, RecursionError):
        return None
    if tree is None or tree.find(exp.Parameter, exp.Placeholder) is None:
        return None
    masked = tree.copy()
    for node in list(masked.find_all(exp.Parameter, exp.Placeholder)):
        node.replace(exp.Null())
    return tree, masked.sql(dialect=dialect)


def respell(tree: exp.Expression, meta: SchemaMetadata) -> exp.Expression:
    """Unquoted table and column names in the schema's own spelling (`NAME` from a MariaDB digest
    becomes `name`); unquoted names match case-insensitively in every engine, so nothing changes
    in meaning. Ambiguous spellings are left alone."""
    tables = {t.name.lower(): t for t in meta.tables}
    used = [tables[t.name.lower()] for t in tree.find_all(exp.Table) if t.name.lower() in tables]
    spellings: dict[str, set[str]] = {}
    for table in used:
        for col in table.columns:
            spellings.setdefault(col.name.lower(), set()).add(col.name)
    for node in tree.find_all(exp.Table, exp.Column):
        ident = node.this
        if not isinstance(ident, exp.Identifier) or ident.quoted:
            continue
        if isinstance(node, exp.Table):
            options = {tables[ident.name.lower()].name} if ident.name.lower() in tables else set()
        else:
            options = spellings.get(ident.name.lower(), set())
        if len(options) == 1 and (name := next(iter(options))) != ident.name:
            ident.set("this", name)
    return tree


@dataclass
class Template:
    """Statements with one SQL shape (literals and parameters masked): one pair, counts summed."""

    key: str
    tree: exp.Expression
    statement: LoggedStatement  # the representative: a human question first, then real literals
    count: int
    variants: int


def _preference(stmt: LoggedStatement, tree: exp.Expression) -> tuple[int, int]:
    has_params = tree.find(exp.Placeholder, exp.Parameter) is not None
    return (0 if stmt.question else 1, 1 if has_params else 0)


def shape_key(tree: exp.Expression, dialect: str) -> str:
    """The template with parameters masked like literals: `id = 5`, `id = $1`, `id = ?` are one shape."""
    masked = tree.copy()
    for node in list(masked.find_all(exp.Parameter, exp.Placeholder)):
        node.replace(exp.Literal.number(0))
    return sql_template(masked, dialect)


def group_by_template(queries: list[tuple[LoggedStatement, exp.Expression]], dialect: str) -> list[Template]:
    """One Template per shape, most frequent first (ties: first seen)."""
    groups: dict[str, Template] = {}
    for stmt, tree in queries:
        key = shape_key(tree, dialect)
        found = groups.get(key)
        if found is None:
            groups[key] = Template(key, tree, stmt, stmt.count, 1)
            continue
        found.count += stmt.count
        found.variants += 1
        if _preference(stmt, tree) < _preference(found.statement, found.tree):
            found.statement, found.tree = stmt, tree
    order = {k: i for i, k in enumerate(groups)}
    return sorted(groups.values(), key=lambda t: (-t.count, order[t.key]))
