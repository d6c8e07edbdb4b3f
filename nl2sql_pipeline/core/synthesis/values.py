"""Literals grounded in real rows: one bounded, cached sample per table through the read-only
executor; columns excluded from sampling (privacy) get no value at all, so the grammar uses
value-free forms for them (IS NULL, comparisons with an aggregate subquery).
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
from typing import Any, Protocol

from sqlglot import exp

from nl2sql_pipeline.core.synthesis.render_sql import ident
from nl2sql_pipeline.core.synthesis.schema import Column, TableView

SAMPLE_ROWS = 200
MAX_TEXT = 60


class Executor(Protocol):
    def execute(self, sql: str) -> Any: ...


def _usable(value: Any) -> bool:
    if value is None or isinstance(value, bytes | bytearray | memoryview):
        return False
    if isinstance(value, str):
        return 0 < len(value.strip()) <= MAX_TEXT and "\n" not in value
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    return isinstance(value, int | decimal.Decimal | dt.date | bool)


def _sort_key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


class TableSample:
    """Rows of one table (allowed columns only) and, per column, its sorted distinct values."""

    def __init__(self, columns: list[str], rows: list[tuple]) -> None:
        self.columns = columns
        self.rows = rows
        self.index = {c.lower(): i for i, c in enumerate(columns)}
        self._distinct: dict[str, list[Any]] = {}

    def distinct(self, column: str) -> list[Any]:
        key = column.lower()
        if key not in self._distinct:
            i = self.index.get(key)
            vals = set() if i is None else {r[i] for r in self.rows if _usable(r[i])}
            self._distinct[key] = sorted(vals, key=_sort_key)
        return self._distinct[key]

    def has_nulls(self, column: str) -> bool:
        i = self.index.get(column.lower())
        return i is not None and any(r[i] is None for r in self.rows)

    def witness(self, rng: random.Random) -> dict[str, Any] | None:
        """One real row (column -> value) that every generated condition should keep."""
        if not self.rows:
            return None
        row = self.rows[rng.randrange(len(self.rows))]
        return {c.lower(): row[i] for i, c in enumerate(self.columns)}


class ValueSource:
    """Caches one sample per table; `allowed(table, column)` says which columns may be read."""

    def __init__(self, executor: Executor | None, dialect: str, allowed: Any) -> None:
        self.executor = executor
        self.dialect = dialect
        self.allowed = allowed
        self._cache: dict[str, TableSample] = {}
        self.queries = 0
        self.failures: list[str] = []

    def table(self, view: TableView) -> TableSample:
        if view.name in self._cache:
            return self._cache[view.name]
        cols = [c.name for c in view.columns if self.allowed(view.name, c.name)]
        rows: list[tuple] = []
        if self.executor is not None and cols:
            sql = (exp.select(*[exp.column(ident(c, self.dialect)) for c in cols])
                   .from_(exp.Table(this=ident(view.name, self.dialect))).limit(SAMPLE_ROWS)
                   .sql(dialect=self.dialect))
            result = self.executor.execute(sql)
            self.queries += 1
            if result.ok:
                rows = [tuple(r) for r in result.rows]
            else:
                self.failures.append(f"{view.name}: {result.error_kind}: {result.error}")
        sample = TableSample(cols, rows)
        self._cache[view.name] = sample
        return sample

    def values(self, view: TableView, column: Column) -> list[Any]:
        return self.table(view).distinct(column.name)
