"""The semantics of every column of a database, built once from the metadata and a small profile
of real rows (one bounded query per table through the read-only executor).

The profile only counts: it reads up to PROFILE_ROWS rows per table to see how many distinct
values a column has and whether they are the legend's codes; no value leaves this module. The
synthesizer and the validator build the same index from the same data, so they agree on roles.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any, Protocol

from sqlglot import exp

from nl2sql_pipeline.core.schema.metadata import SchemaMetadata, TableInfo
from nl2sql_pipeline.core.semantics.legend import describe, table_label
from nl2sql_pipeline.core.semantics.roles import ColumnSemantics, Profile, column_semantics

PROFILE_ROWS = 200
DISTINCT_KEPT = 12
_PROFILED = {"integer", "decimal", "float", "text", "boolean"}


class Executor(Protocol):
    def execute(self, sql: str, **kw: Any) -> Any: ...


def _hashable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | str | int | float | bool):
        return value
    return None


def profile_table(executor: Executor | None, table: TableInfo, dialect: str) -> dict[str, Profile]:
    """Distinct values of the table's profiled columns in its first PROFILE_ROWS rows."""
    cols = [c.name for c in table.columns if c.type in _PROFILED]
    if executor is None or not cols:
        return {}
    sql = (exp.select(*[exp.column(exp.to_identifier(c, quoted=True)) for c in cols])
           .from_(exp.Table(this=exp.to_identifier(table.name, quoted=True),
                            db=exp.to_identifier(table.db_schema, quoted=True) if table.db_schema else None))
           .limit(PROFILE_ROWS).sql(dialect=dialect))
    result = executor.execute(sql, row_cap=PROFILE_ROWS)
    if not result.ok:
        return {}
    out = {}
    for i, name in enumerate(cols):
        seen = {v for r in result.rows if (v := _hashable(r[i])) is not None}
        kept = tuple(sorted(seen, key=repr)[:DISTINCT_KEPT])
        out[name.lower()] = Profile(rows=len(result.rows), distinct=kept, distinct_count=len(seen))
    return out


@dataclass
class SemanticIndex:
    """(table, column) lower-cased -> ColumnSemantics; table -> business label."""

    columns: dict[tuple[str, str], ColumnSemantics]
    tables: dict[str, str | None]

    def column(self, table: str, column: str) -> ColumnSemantics | None:
        return self.columns.get((table.lower(), column.lower()))

    def table_label(self, table: str) -> str | None:
        return self.tables.get(table.lower())

    @classmethod
    def build(cls, meta: SchemaMetadata, executor: Executor | None = None) -> SemanticIndex:
        columns: dict[tuple[str, str], ColumnSemantics] = {}
        tables: dict[str, str | None] = {}
        for t in meta.tables:
            profiles = profile_table(executor, t, meta.dialect)
            fk_cols = {c.lower() for fk in t.foreign_keys for c in fk.columns}
            pk = {c.lower() for c in t.primary_key}
            for c in t.columns:
                key = c.primary_key or c.name.lower() in pk or c.name.lower() in fk_cols
                columns[(t.name.lower(), c.name.lower())] = column_semantics(t, c, key, profiles.get(c.name.lower()))
            tables[t.name.lower()] = table_label(t.comment)
        return cls(columns=columns, tables=tables)

    def summary(self, table: str, column: str) -> str:
        """Compact card text: `category: 1=在职, 2=离职`, `measure, 元, 0-1`."""
        s = self.column(table, column)
        if s is None:
            return ""
        return "; ".join([s.role] + describe(s.values, s.unit, s.range, s.format))
