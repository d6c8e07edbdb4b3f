"""Step 2: a typed model of a database schema, extracted with SQLAlchemy's batched inspection.

One `get_multi_*` call per kind of fact (columns, keys, comments) instead of one per table: on
PostgreSQL step 2+3 is ~20x faster than a per-table inspector loop for 500 tables
(benchmarks/bench_reflection.py).
"""

from __future__ import annotations

import dataclasses
import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field, PrivateAttr
from pydantic.dataclasses import dataclass as pydantic_dataclass
from sqlalchemy import types as satypes

from nl2sql_pipeline.core.access import AccessScope, prune
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.fsutil import sha256_text
from nl2sql_pipeline.core.schema.reflection import reflect

# Columns and foreign keys are validated dataclasses with slots rather than BaseModels: a schema
# has thousands of them, and pydantic builds these in about half the time (bench_reflection.py).
# They serialize the same way inside the models that hold them.


@pydantic_dataclass(slots=True)
class ColumnInfo:
    name: str
    type: str  # normalized: integer, decimal, float, text, date, datetime, time, boolean, blob, json, other
    raw_type: str
    nullable: bool
    default: str | None = None
    comment: str | None = None
    primary_key: bool = False


@pydantic_dataclass(slots=True)
class ForeignKey:
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

    _index: dict[str, TableInfo] | None = PrivateAttr(default=None)

    def __len__(self) -> int:
        return len(self.tables)

    def table(self, name: str) -> TableInfo | None:
        """Case-insensitive lookup (SQL identifiers mostly are), indexed on first use."""
        if self._index is None or len(self._index) != len(self.tables):
            self._index = {t.name.lower(): t for t in self.tables}
        return self._index.get(name.lower())

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
                "columns": [dataclasses.asdict(c) for c in t.columns],
                "pk": t.primary_key,
                "fks": [dataclasses.asdict(fk) for fk in t.foreign_keys],
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


def _type_info(sa_type: Any, dialect: sa.Dialect, cache: dict) -> tuple[str, str]:
    """(type as the dialect writes it, normalized family), worked out once per distinct type:
    most of a schema's columns share a handful of types."""
    try:
        key: tuple | None = (type(sa_type), tuple(vars(sa_type).items()))
        info = cache.get(key)
    except TypeError:  # an unhashable attribute (e.g. an ENUM's values): work it out every time
        key = info = None
    if info is not None:
        return info
    try:
        raw = sa_type.compile(dialect=dialect)
    except Exception:  # some reflected types (NullType) cannot compile; their name still informs
        raw = str(getattr(sa_type, "__visit_name__", sa_type)).upper()
    info = (raw, normalize_type(sa_type, raw))
    if key is not None:
        cache[key] = info
    return info


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while tens of thousands of acyclic objects are built:
    its full passes over the growing heap cost step 2 up to 40% (bench_reflection.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def extract_metadata(engine: sa.Engine, db: DatabaseConfig, dialect: str) -> SchemaMetadata:
    """Step 2: reflect tables, columns, keys and comments of one database in a few batched calls."""
    backend = engine.url.get_backend_name()
    with bulk_allocation():
        with engine.connect() as conn:
            names, facts = reflect(engine, conn, db)
        tables = _assemble(names, facts, db.db_schema, engine.dialect)
        scope = facts.get("access") or AccessScope()
        prune(tables, scope)
        meta = SchemaMetadata.model_validate({"database": db.name, "backend": backend, "dialect": dialect,
                                              "tables": tables, "notes": facts.get("warnings", []) + scope.notes()})
        return _resolve_implicit_fk_columns(meta)


def _assemble(names: list[str], facts: dict, schema: str | None, sa_dialect: sa.Dialect) -> list[dict]:
    """The tables as plain dicts, to be validated in one call: pydantic-core builds the nested
    models far faster than one constructor call per column. The reflected column dicts are
    reused as they are (validation ignores their other keys) rather than copied."""
    pks, comments, counts, fks, type_cache = (
        facts["pk_constraint"], facts["table_comment"], facts["counts"], facts["foreign_keys"], {}
    )
    tables = []
    for name in names:
        key = (schema, name)
        pk_cols = (pks.get(key) or {}).get("constrained_columns") or []
        columns = facts["columns"].get(key, [])
        for c in columns:
            c["raw_type"], c["type"] = _type_info(c["type"], sa_dialect, type_cache)
            in_pk = c["primary_key"] = c["name"] in pk_cols
            # SQLite reports INTEGER PRIMARY KEY as nullable; a key column never is.
            c["nullable"] = bool(c.get("nullable", True)) and not in_pk
            if c.get("default") is not None and not isinstance(c["default"], str):
                c["default"] = str(c["default"])
            if not c.get("comment"):
                c["comment"] = None
        count, estimated = counts.get(name, (None, False))
        tables.append({
            "name": name, "db_schema": schema, "comment": (comments.get(key) or {}).get("text") or None,
            "row_count": count, "row_count_estimated": estimated, "columns": columns, "primary_key": pk_cols,
            "foreign_keys": [
                {"columns": fk["constrained_columns"], "ref_table": fk["referred_table"],
                 "ref_columns": fk.get("referred_columns") or [], "ref_schema": fk.get("referred_schema"),
                 "name": fk.get("name")}
                for fk in fks.get(key, [])
            ],
        })
    return tables


def _resolve_implicit_fk_columns(meta: SchemaMetadata) -> SchemaMetadata:
    """`REFERENCES t` without columns means t's primary key (SQLite allows it)."""
    for table in meta.tables:
        for fk in table.foreign_keys:
            if not fk.ref_columns and (ref := meta.table(fk.ref_table)) and len(ref.primary_key) == len(fk.columns):
                fk.ref_columns = list(ref.primary_key)
    return meta
