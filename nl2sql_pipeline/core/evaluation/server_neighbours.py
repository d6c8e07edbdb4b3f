"""Neighbour databases for PostgreSQL and MariaDB/MySQL sources.

1. A bounded, sampled extract of the source goes into a SQLite file in the working folder
   (`row_cap` rows per table, parents first, references kept consistent), reflected with
   SQLAlchemy (generic types, primary keys, foreign keys, NOT NULL, UNIQUE).
2. `neighbours.build_neighbours` fuzzes and distils copies of that extract (gold queries
   transpiled to SQLite with sqlglot for the probing).
3. With a scratch database (`scratch_url_env`), each kept copy is loaded into it with the
   source's own DDL (PostgreSQL: one schema per copy inside the scratch database; MariaDB/MySQL:
   one database per copy named after the scratch database), so predictions run natively. The
   scratch database must not be the source: that is refused. Without one, predictions are
   transpiled to SQLite and run on the copies themselves; `dialect_note` says so.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import sqlite3
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlalchemy.engine import URL, make_url

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.evaluation.neighbours import NeighbourError, NeighbourSet, build_neighbours
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget

EXTRACT_ROWS = 200  # rows sampled per table into the extract


def _plain(value: Any) -> Any:
    """A value SQLite stores as the source's driver returned it (dates as ISO text, as SQLite does)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _generic(table: sa.Table, metadata: sa.MetaData) -> sa.Table:
    copy = table.to_metadata(metadata, schema=None)
    for column in copy.columns:
        try:
            column.type = column.type.as_generic()
        except NotImplementedError:
            column.type = sa.Text()
        column.server_default = None
        column.autoincrement = False
    # MariaDB reports UNIQUE as a unique index: keep it as a constraint, drop the other indexes
    for index in list(copy.indexes):
        if index.unique:
            copy.append_constraint(sa.UniqueConstraint(*[c.name for c in index.columns]))
    copy.indexes.clear()
    return copy


def sampled_extract(source_url: URL | str, path: Path, *, schema: str | None = None, row_cap: int = EXTRACT_ROWS) -> Path:
    """A SQLite file with the source's tables and up to `row_cap` rows each, references intact."""
    engine = sa.create_engine(source_url)
    try:
        source = sa.MetaData()
        source.reflect(engine, schema=schema)
        target = sa.MetaData()
        tables = [(t, _generic(t, target)) for t in source.sorted_tables]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        sqlite_engine = sa.create_engine(f"sqlite:///{path}")
        target.create_all(sqlite_engine)
        sqlite_engine.dispose()
        kept: dict[str, set[tuple]] = {}  # "table.col1,col2" -> key tuples written
        with engine.connect() as conn, sqlite3.connect(path) as out:
            for original, copy in tables:
                rows = [tuple(_plain(v) for v in r) for r in conn.execute(sa.select(original).limit(row_cap))]
                names = [c.name for c in original.columns]
                rows = _consistent(rows, names, original, kept)
                placeholders = ", ".join("?" * len(names))
                quoted = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
                out.executemany(f'INSERT OR IGNORE INTO "{copy.name}" ({quoted}) VALUES ({placeholders})', rows)
                for key in _keys(original):
                    kept[f"{original.name}.{','.join(key)}"] = {tuple(r[names.index(c)] for c in key) for r in rows}
            out.commit()
        return path
    finally:
        engine.dispose()


def _keys(table: sa.Table) -> list[list[str]]:
    """Column lists other tables may reference: the primary key and every referenced column set."""
    keys = [[c.name for c in table.primary_key.columns]] if table.primary_key.columns else []
    for other in table.metadata.tables.values():
        for fk in other.foreign_key_constraints:
            if fk.referred_table is table:
                keys.append([e.column.name for e in fk.elements])
    return keys


def _consistent(rows: list[tuple], names: list[str], table: sa.Table, kept: dict[str, set[tuple]]) -> list[tuple]:
    """Rows whose references point at written parent rows; a dangling nullable reference becomes NULL."""
    out = []
    for row in rows:
        values = list(row)
        keep = True
        for fk in table.foreign_key_constraints:
            parent = f"{fk.referred_table.name}.{','.join(e.column.name for e in fk.elements)}"
            if parent not in kept:
                continue  # a self-reference or cycle: the parent is this table; left as sampled
            positions = [names.index(e.parent.name) for e in fk.elements]
            ref = tuple(values[i] for i in positions)
            if None in ref or ref in kept[parent]:
                continue
            if all(table.columns[names[i]].nullable for i in positions):
                for i in positions:
                    values[i] = None
            else:
                keep = False
        if keep:
            out.append(tuple(values))
    return out


def _to_sqlite(sql: str, dialect: str) -> str:
    try:
        return sqlglot.transpile(sql, read=dialect, write="sqlite")[0]
    except sqlglot.errors.SqlglotError:
        return sql


def _same_database(a: URL, b: URL) -> bool:
    return (a.get_backend_name(), a.host or "", a.port, a.database) == (b.get_backend_name(), b.host or "", b.port, b.database)


def same_source(url: str, recorded: str) -> bool:
    """Whether a target's URL is the source a neighbour set was built from (file or server database)."""
    from nl2sql_pipeline.core.evaluation.neighbours import sqlite_source

    path = sqlite_source(url)
    if path is not None:
        return path.resolve() == Path(recorded).resolve()
    try:
        return _same_database(make_url(url), make_url(recorded))
    except sa.exc.ArgumentError:
        return False


def namespace_url(scratch_url: str, namespace: str) -> str:
    """The URL that queries one copy: a search_path (PostgreSQL) or a database (MariaDB/MySQL)."""
    scratch = make_url(scratch_url)
    if scratch.get_backend_name() == "postgresql":
        return scratch.update_query_dict({"options": f"-csearch_path={namespace}"}).render_as_string(hide_password=False)
    return scratch.set(database=namespace).render_as_string(hide_password=False)


def build_server_neighbours(
    name: str, target: DatabaseTarget, workdir: Path, n: int, gold_sqls: list[str], *, seed: int = 0,
    scratch_url: str | None = None, schema: str | None = None,
) -> tuple[DatabaseTarget, NeighbourSet]:
    """The target with its neighbours, for a PostgreSQL or MariaDB/MySQL source."""
    source = make_url(target.url)
    if scratch_url and _same_database(make_url(scratch_url), source):
        raise NeighbourError(
            f"The scratch database for {name!r} is the source database itself.",
            "point scratch_url_env at an empty database of its own: neighbours are written there, never into the source.",
        )
    extract = sampled_extract(source, workdir / name / "extract" / f"{name}.sqlite", schema=schema)
    built = build_neighbours(name, extract, workdir / name / "copies", n, [_to_sqlite(g, target.dialect) for g in gold_sqls],
                             seed=seed)
    built.source = source.render_as_string(hide_password=True)
    if scratch_url is None:
        from nl2sql_pipeline.core.connection import sqlite_url

        built.neighbour_dialect = "sqlite"
        built.dialect_note = (f"{name}: the source is {target.dialect}; its neighbours are SQLite copies of a sampled extract "
                              f"(up to {EXTRACT_ROWS} rows a table) and queries are transpiled to SQLite with sqlglot to run "
                              "there, so dialect differences can change a neighbour's verdict")
        urls = [sqlite_url(Path(p), read_only=True).render_as_string() for p in built.paths]
        return target.model_copy(update={"neighbours": urls, "neighbour_dialect": "sqlite"}), built
    built.namespaces = [load_copy(Path(p), source, make_url(scratch_url), f"nl2sql_nb_{built.version[:10]}_{k}", schema=schema)
                        for k, p in enumerate(built.paths)]
    urls = [namespace_url(scratch_url, ns) for ns in built.namespaces]
    return target.model_copy(update={"neighbours": urls}), built


def load_copy(copy: Path, source: URL, scratch: URL, namespace: str, *, schema: str | None = None) -> str:
    """Write one SQLite copy into the scratch server with the source's DDL; the namespace it is in."""
    engine = sa.create_engine(source)
    try:
        reflected = sa.MetaData()
        reflected.reflect(engine, schema=schema)
    finally:
        engine.dispose()
    backend = scratch.get_backend_name()
    admin = sa.create_engine(scratch, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE')
                conn.exec_driver_sql(f'CREATE SCHEMA "{namespace}"')
            else:
                namespace = f"{scratch.database}_{namespace}"[:64]
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{namespace}`")
                conn.exec_driver_sql(f"CREATE DATABASE `{namespace}` CHARACTER SET utf8mb4")
    finally:
        admin.dispose()
    writer = sa.create_engine(namespace_url(scratch.render_as_string(hide_password=False), namespace))
    try:
        target = sa.MetaData()
        tables = [t.to_metadata(target, schema=None) for t in reflected.sorted_tables]
        target.create_all(writer)
        with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as src, writer.begin() as conn:
            if backend != "postgresql":
                # rows of a self-referencing table may point at later rows; the copy is consistent as a whole
                # (PostgreSQL checks at the end of each multi-row INSERT, MariaDB row by row)
                conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
            for table in tables:
                names = [c.name for c in table.columns]
                quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in names)
                rows = src.execute(f'SELECT {quoted} FROM "{table.name}"').fetchall()
                booleans = {i for i, c in enumerate(table.columns) if isinstance(c.type, sa.Boolean)}
                if rows:
                    conn.execute(table.insert(), [
                        {n: (bool(v) if i in booleans and v is not None else v) for i, (n, v) in enumerate(zip(names, r))}
                        for r in rows
                    ])
    finally:
        writer.dispose()
    return namespace


def drop_copies(scratch_url: str, namespaces: list[str]) -> None:
    """Remove copies written by `load_copy` (schemas on PostgreSQL, databases on MariaDB/MySQL)."""
    scratch = make_url(scratch_url)
    admin = sa.create_engine(scratch, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for namespace in namespaces:
                if scratch.get_backend_name() == "postgresql":
                    conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{namespace}" CASCADE')
                else:
                    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{namespace}`")
    finally:
        admin.dispose()


def scratch_urls(databases: Iterable[DatabaseConfig], names: Iterable[str] | None = None) -> dict[str, str]:
    """Scratch database URLs (from each database's `scratch_url_env`), for the databases named."""
    wanted = set(names) if names is not None else None
    urls = {}
    for db in databases:
        if db.scratch_url_env and (wanted is None or db.name in wanted):
            url = os.environ.get(db.scratch_url_env)
            if not url:
                raise NeighbourError(f"Database {db.name!r}: environment variable {db.scratch_url_env} is not set.",
                                     f"export {db.scratch_url_env} with the URL of an empty scratch database, or remove scratch_url_env.")
            urls[db.name] = url
    return urls
