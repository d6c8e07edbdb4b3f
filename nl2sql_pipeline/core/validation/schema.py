"""Layer 2: every table and column of a query resolves against the database's metadata.

Built on sqlglot's scope machinery (`traverse_scope`, `walk_in_scope`), so each column is looked
up among the sources visible where it appears: tables and their aliases, CTEs (with or without a
column list), derived tables, and for correlated subqueries the enclosing scopes. Select-list
aliases (ORDER BY / HAVING / GROUP BY by alias) and `*` resolve too. Cheaper than a full
`qualify` (which rewrites the tree), and it names what does not exist.

>>> from nl2sql_pipeline.core.schema.metadata import ColumnInfo, SchemaMetadata, TableInfo
>>> col = lambda n: ColumnInfo(name=n, type="text", raw_type="TEXT", nullable=True)
>>> meta = SchemaMetadata(database="d", backend="sqlite", dialect="sqlite",
...                       tables=[TableInfo(name="singer", columns=[col("name"), col("age")])])
>>> unresolved(sqlglot.parse_one("SELECT nme FROM singer"), SchemaIndex.of(meta), "sqlite")
["unknown column 'nme' (not in singer)"]
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope

from nl2sql_pipeline.core.schema.metadata import SchemaMetadata


@dataclass(frozen=True)
class SchemaIndex:
    """Lower-cased table -> column names, and the original spelling for messages."""

    columns: dict[str, frozenset[str]]
    schemas: frozenset[str] = frozenset()  # the configured schema(s) the tables live in

    @classmethod
    def of(cls, meta: SchemaMetadata) -> SchemaIndex:
        return cls({t.name.lower(): frozenset(c.name.lower() for c in t.columns) for t in meta.tables},
                   frozenset(t.db_schema.lower() for t in meta.tables if t.db_schema))


# What an unqualified table name means when the metadata names no schema.
_DEFAULT_SCHEMAS = {"sqlite": "main", "postgres": "public"}


ANY = None  # a source whose columns cannot be known statically (table function, `SELECT *` body)


def _output_columns(source: Scope) -> frozenset[str] | None:
    """Names a CTE or derived table exposes; ANY when its select list has a star."""
    alias = source.expression.parent.args.get("alias") if source.expression.parent else None
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return frozenset(c.name.lower() for c in alias.columns)
    body = source.expression
    while isinstance(body, exp.SetOperation):
        body = body.left
    if isinstance(body, exp.Select) and any(
        isinstance(e, exp.Star) or isinstance(e, exp.Column) and isinstance(e.this, exp.Star) for e in body.expressions
    ):
        return ANY
    return frozenset(n.lower() for n in source.expression.named_selects)


def _source_columns(source: exp.Expression | Scope, index: SchemaIndex) -> frozenset[str] | None:
    if isinstance(source, Scope):
        return _output_columns(source)
    if isinstance(source, exp.Table) and not isinstance(source.this, exp.Func):
        return index.columns.get(source.name.lower(), ANY)  # an unknown table is reported once, not per column
    return ANY


def _visible(scope: Scope) -> list[tuple[str, exp.Expression | Scope]]:
    """(alias, source) pairs visible in a scope: its own first, then enclosing scopes outwards."""
    seen: list[tuple[str, exp.Expression | Scope]] = []
    current: Scope | None = scope
    while current is not None:
        seen.extend((name.lower(), src) for name, src in current.sources.items())
        current = current.parent
    return seen


def _outside_schema(table: exp.Table, index: SchemaIndex, dialect: str) -> str | None:
    """A qualified name is compared as a qualified name: `mysql.user` is not the local `user`."""
    schema, catalog = table.text("db").lower(), table.text("catalog")
    if catalog:
        return f"table '{table.sql(dialect)}' names another database"
    allowed = index.schemas or {_DEFAULT_SCHEMAS.get(dialect, "")}
    if schema and schema not in allowed:
        return f"table '{table.sql(dialect)}' is outside the configured schema"
    return None


def _unknown_tables(scope: Scope, index: SchemaIndex, dialect: str = "") -> list[str]:
    problems = []
    for source in scope.sources.values():
        if isinstance(source, exp.Table) and not isinstance(source.this, exp.Func) and source.name:
            outside = _outside_schema(source, index, dialect)
            if outside:
                problems.append(outside)
                continue
            if source.name.lower() not in index.columns and not _is_cte_name(scope, source.name):
                problems.append(f"unknown table '{source.name}'")
    return problems


def _is_cte_name(scope: Scope, name: str) -> bool:
    low = name.lower()
    return any(isinstance(src, Scope) and alias.lower() == low for alias, src in _visible(scope))


def _string_literal_in_sqlite(column: exp.Column, dialect: str) -> bool:
    # SQLite reads an unresolvable "double-quoted" name as a string literal (Spider relies on it).
    return dialect == "sqlite" and not column.table and bool(column.this.args.get("quoted"))


def _aliases(query: exp.Expression) -> set[str]:
    """Names given with AS in the select list (a bare column's own name is no alias); a set
    operation's ORDER BY sees all output names of its first query."""
    if isinstance(query, exp.SetOperation):
        return {n.lower() for n in query.named_selects}
    if not isinstance(query, exp.Select):
        return set()
    return {e.alias.lower() for e in query.expressions if isinstance(e, exp.Alias)}


def _check_column(column: exp.Column, scope: Scope, index: SchemaIndex, dialect: str) -> str | None:
    name = column.name.lower()
    visible = _visible(scope)
    if column.table:
        qualifier = column.table.lower()
        source = next((src for alias, src in visible if alias == qualifier), None)
        if source is None:
            return f"'{column.table}' is not a table or alias in FROM (in {column.sql()})"
        if isinstance(column.this, exp.Star):
            return None
        cols = _source_columns(source, index)
        if cols is ANY or name in cols:
            return None
        return f"unknown column '{column.name}' in '{column.table}' ({column.sql()})"
    if isinstance(column.this, exp.Star):
        return None
    if any((cols := _source_columns(src, index)) is ANY or name in cols for _, src in visible):
        return None
    if name in _aliases(scope.expression):
        return None  # a select-list alias used in ORDER BY / GROUP BY / HAVING
    if _string_literal_in_sqlite(column, dialect):
        return None
    tables = sorted({src.name for _, src in scope.sources.items() if isinstance(src, exp.Table)} |
                    {alias for alias, src in scope.sources.items() if isinstance(src, Scope)})
    return f"unknown column '{column.name}' (not in {', '.join(tables) or 'any table in FROM'})"


def unresolved(tree: exp.Expression, index: SchemaIndex, dialect: str) -> list[str]:
    """Human-readable problems with the tables and columns of `tree`; empty when all resolve."""
    problems: list[str] = []
    for scope in traverse_scope(tree):
        problems.extend(_unknown_tables(scope, index, dialect))
        for node in walk_in_scope(scope.expression):
            if isinstance(node, exp.Column) and not isinstance(node.parent, exp.Dot):
                problem = _check_column(node, scope, index, dialect)
                if problem:
                    problems.append(problem)
    return list(dict.fromkeys(problems))


def check_schema(sql: str, index: SchemaIndex, dialect: str) -> list[str]:
    """`unresolved` on a SQL string (tests and tools; the validator passes its parsed tree)."""
    return unresolved(sqlglot.parse_one(sql, read=dialect), index, dialect)
