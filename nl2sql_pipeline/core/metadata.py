"""Step 2: a typed model of a database schema, extracted with SQLAlchemy's batched inspection.

One `get_multi_*` call per kind of fact (columns, keys, comments) instead of one per table: on
PostgreSQL that is ~18x faster for 500 tables (benchmarks/bench_reflection.py).
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy import types as satypes

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.fsutil import sha256_text

# An exact COUNT(*) is cheap below this many (estimated) rows; above it, the estimate stands.
EXACT_COUNT_BELOW = 100_000


class ColumnInfo(BaseModel):
    name: str
    type: str  # normalized: integer, decimal, float, text, date, datetime, time, boolean, blob, json, other
    raw_type: str
    nullable: bool
    default: str | None = None
    comment: str | None = None
    primary_key: bool = False


class ForeignKey(BaseModel):
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    ref_schema: str | None = None
    name: str | None = None


class TableInfo(BaseModel):
    name: str
    db_schema: str | None = None
    comment: str | None = None
    row_count: int | None = None
    row_count_estimated: bool = False
    columns: list[ColumnInfo]
    primary_key: list[str] = Field(default_factory=list)
    foreign_keys: list[ForeignKey] = Field(default_factory=list)

    def column(self, name: str) -> ColumnInfo | None:
        low = name.lower()
        return next((c for c in self.columns if c.name.lower() == low), None)


class SchemaMetadata(BaseModel):
    """Everything later steps know about a database's structure."""

    database: str
    backend: str
    dialect: str
    tables: list[TableInfo]
    notes: list[str] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tables)

    def table(self, name: str) -> TableInfo | None:
        low = name.lower()
        return next((t for t in self.tables if t.name.lower() == low), None)

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.tables]

    def fingerprint(self) -> str:
        """A hash of the structure only (not row counts): unchanged schema, unchanged hash."""
        structure = [
            {
                "name": t.name,
                "schema": t.db_schema,
                "comment": t.comment,
                "columns": [c.model_dump() for c in t.columns],
                "pk": t.primary_key,
                "fks": [fk.model_dump() for fk in t.foreign_keys],
            }
            for t in self.tables
        ]
        return sha256_text(json.dumps([self.dialect, structure], sort_keys=True, ensure_ascii=False))[:16]


_TYPE_ORDER: list[tuple[type, str]] = [
    (satypes.Boolean, "boolean"),
    (satypes.Integer, "integer"),
    (satypes.Float, "float"),
    (satypes.Numeric, "decimal"),
    (satypes.DateTime, "datetime"),
    (satypes.Date, "date"),
    (satypes.Time, "time"),
    (satypes.Interval, "other"),
    (satypes.JSON, "json"),
    (satypes.LargeBinary, "blob"),
    (satypes._Binary, "blob"),
    (satypes.String, "text"),
]

_RAW_HINTS = [
    ("bool", "boolean"), ("int", "integer"), ("double", "float"), ("real", "float"),
    ("float", "float"), ("dec", "decimal"), ("num", "decimal"), ("timestamp", "datetime"),
    ("datetime", "datetime"), ("date", "date"), ("time", "time"), ("char", "text"),
    ("text", "text"), ("clob", "text"), ("blob", "blob"), ("binary", "blob"), ("json", "json"),
]


def normalize_type(sa_type: Any, raw: str) -> str:
    for cls, name in _TYPE_ORDER:
        if isinstance(sa_type, cls):
            return name
    low = raw.lower()
    return next((name for hint, name in _RAW_HINTS if hint in low), "other")


def _raw_type(sa_type: Any, dialect: sa.Dialect) -> str:
    try:
        return sa_type.compile(dialect=dialect)
    except Exception:  # some reflected types (NullType) cannot compile; their repr still informs
        return str(getattr(sa_type, "__visit_name__", sa_type)).upper()


def _multi(fn: Any, **kw: Any) -> dict:
    try:
        return fn(**kw)
    except NotImplementedError:  # e.g. SQLite keeps no comments
        return {}


def _row_counts(conn: sa.Connection, backend: str, schema: str | None, names: list[str]) -> dict[str, tuple[int, bool]]:
    """(count, estimated) per table: catalog estimates where the server keeps them, else one batched COUNT."""
    estimates: dict[str, int] = {}
    if backend == "postgresql":
        rows = conn.execute(
            sa.text(
                "select c.relname, c.reltuples::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = coalesce(:s, current_schema()) and c.relkind in ('r','p')"
            ),
            {"s": schema},
        )
        estimates = {r[0]: int(r[1]) for r in rows if r[1] is not None and r[1] >= 0}
    elif backend in ("mysql", "mariadb"):
        rows = conn.execute(
            sa.text(
                "select table_name, table_rows from information_schema.tables "
                "where table_schema = coalesce(:s, database())"
            ),
            {"s": schema},
        )
        estimates = {r[0]: int(r[1]) for r in rows if r[1] is not None}
    exact = [n for n in names if estimates.get(n, 0) < EXACT_COUNT_BELOW]
    counts = {n: (estimates[n], True) for n in names if n not in exact}
    prep = conn.dialect.identifier_preparer
    for start in range(0, len(exact), 200):  # one round trip per 200 tables
        chunk = exact[start : start + 200]
        query = " union all ".join(
            f"select {i} as i, count(*) as n from "
            + (f"{prep.quote_schema(schema)}." if schema else "")
            + prep.quote(name)
            for i, name in enumerate(chunk)
        )
        for i, n in conn.exec_driver_sql(query):
            counts[chunk[int(i)]] = (int(n), False)
    return counts


def extract_metadata(engine: sa.Engine, db: DatabaseConfig, dialect: str) -> SchemaMetadata:
    """Step 2: reflect tables, columns, keys and comments of one database in a few batched calls."""
    schema = db.db_schema
    backend = engine.url.get_backend_name()
    with engine.connect() as conn:
        insp = sa.inspect(conn)
        names = sorted(t for t in insp.get_table_names(schema=schema) if db.includes_table(t))
        if not names:
            return SchemaMetadata(database=db.name, backend=backend, dialect=dialect, tables=[],
                                  notes=["no tables matched include/exclude"])
        kw = {"schema": schema, "filter_names": names}
        columns = insp.get_multi_columns(**kw)
        pks = insp.get_multi_pk_constraint(**kw)
        fks = insp.get_multi_foreign_keys(**kw)
        comments = _multi(insp.get_multi_table_comment, **kw)
        counts = _row_counts(conn, backend, schema, names)
    tables = []
    for name in names:
        key = (schema, name)
        pk_cols = list((pks.get(key) or {}).get("constrained_columns") or [])
        cols = [
            ColumnInfo(
                name=c["name"],
                type=normalize_type(c["type"], raw := _raw_type(c["type"], engine.dialect)),
                raw_type=raw,
                # SQLite reports INTEGER PRIMARY KEY as nullable; a key column never is.
                nullable=bool(c.get("nullable", True)) and c["name"] not in pk_cols,
                default=None if c.get("default") is None else str(c["default"]),
                comment=c.get("comment") or None,
                primary_key=c["name"] in pk_cols,
            )
            for c in columns.get(key, [])
        ]
        count, estimated = counts.get(name, (None, False))
        tables.append(
            TableInfo(
                name=name,
                db_schema=schema,
                comment=(comments.get(key) or {}).get("text") or None,
                row_count=count,
                row_count_estimated=estimated,
                columns=cols,
                primary_key=pk_cols,
                foreign_keys=[
                    ForeignKey(
                        columns=list(fk["constrained_columns"]),
                        ref_table=fk["referred_table"],
                        ref_columns=list(fk.get("referred_columns") or []),
                        ref_schema=fk.get("referred_schema"),
                        name=fk.get("name"),
                    )
                    for fk in fks.get(key, [])
                ],
            )
        )
    return _resolve_implicit_fk_columns(
        SchemaMetadata(database=db.name, backend=backend, dialect=dialect, tables=tables)
    )


def _resolve_implicit_fk_columns(meta: SchemaMetadata) -> SchemaMetadata:
    """`REFERENCES t` without columns means t's primary key (SQLite allows it)."""
    for table in meta.tables:
        for fk in table.foreign_keys:
            ref = meta.table(fk.ref_table)
            if not fk.ref_columns and ref and len(ref.primary_key) == len(fk.columns):
                fk.ref_columns = list(ref.primary_key)
    return meta
