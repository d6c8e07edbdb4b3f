"""The round trips of step 2: SQLAlchemy's batched `get_multi_*` facts of a database's tables, plus
row counts, made at once on servers (benchmarks/bench_reflection.py)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import sqlalchemy as sa

from nl2sql_pipeline.core.access import AccessScope, access_scope, column_scoped_facts
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.selection import check_selection, missing_schema, no_readable_table


def _multi(fn: Any, **kw: Any) -> dict:
    try:
        return fn(**kw)
    except NotImplementedError:  # e.g. SQLite keeps no comments
        return {}


def _row_counts(conn: sa.Connection, backend: str, schema: str | None, names: list[str]) -> dict[str, tuple[int, bool]]:
    """(count, estimated) per table in one round trip: the server's own statistics where it keeps
    them (an exact COUNT over every table of a large schema would cost more than the reflection),
    exact counts on SQLite, which keeps none."""
    if backend == "postgresql":
        # reltuples is -1 until the first ANALYZE; the statistics collector's live-tuple count
        # covers that gap.
        rows = conn.execute(
            sa.text(
                "select c.relname, case when c.reltuples >= 0 then c.reltuples::bigint "
                "else coalesce(s.n_live_tup, 0) end "
                "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "left join pg_stat_user_tables s on s.relid = c.oid "
                "where n.nspname = coalesce(:s, current_schema()) and c.relkind in ('r','p')"
            ),
            {"s": schema},
        )
        return {r[0]: (int(r[1]), True) for r in rows}
    if backend in ("mysql", "mariadb"):
        rows = conn.execute(
            sa.text(
                "select table_name, coalesce(table_rows, 0) from information_schema.tables "
                "where table_schema = coalesce(:s, database())"
            ),
            {"s": schema},
        )
        return {r[0]: (int(r[1]), True) for r in rows}
    counts: dict[str, tuple[int, bool]] = {}
    prep = conn.dialect.identifier_preparer
    for start in range(0, len(names), 200):  # one round trip per 200 tables
        chunk = names[start : start + 200]
        query = " union all ".join(
            f"select {i} as i, count(*) as n from "
            + (f"{prep.quote_schema(schema)}." if schema else "")
            + prep.quote(name)
            for i, name in enumerate(chunk)
        )
        for i, n in conn.exec_driver_sql(query):
            counts[chunk[int(i)]] = (int(n), False)
    return counts


_REFLECT_POOLS: dict[int, ThreadPoolExecutor] = {}


def _reflect_pool() -> ThreadPoolExecutor:
    """Threads kept for the process (starting them per call costs about a millisecond); a forked
    child gets its own, since the parent's threads do not survive a fork."""
    pool = _REFLECT_POOLS.get(os.getpid())
    if pool is None:
        pool = _REFLECT_POOLS[os.getpid()] = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nl2sql-reflect")
    return pool


def reflect(engine: sa.Engine, conn: sa.Connection, db: DatabaseConfig) -> tuple[list[str], dict]:
    """The sorted names of the tables `db` includes and the role may read, and their batched
    `get_multi_*` facts (plus row counts, the access scope and selection warnings). Selecting no
    table is a ConfigError naming the cause.

    On a server the round trips run at once, on three pooled connections: the server works on
    keys and foreign keys while this process digests the columns, which takes step 2 below the
    wall time of the same calls made one after another (bench_reflection.py). SQLite runs in
    this process, so there it stays serial."""
    schema, backend = db.db_schema, engine.url.get_backend_name()
    try:
        all_names = sa.inspect(conn).get_table_names(schema=schema)
    except sa.exc.DBAPIError:  # SQLite and MySQL fail on an unknown schema: say so, not "connection failed"
        if (err := missing_schema(db, conn)) is not None:
            raise err from None
        raise
    names = sorted(t for t in all_names if db.includes_table(t))
    warnings = check_selection(db, conn, all_names, names)  # raises when nothing is selected
    # Only what the role may SELECT (core/access.py); SQLite has no privileges.
    scope = AccessScope() if backend == "sqlite" else access_scope(conn, backend, schema, names)
    names = [n for n in names if n not in scope.hidden_tables]
    if not names:
        raise no_readable_table(db, scope.hidden_tables)
    reflected = [n for n in names if n not in scope.column_scoped]
    facts = _reflect_facts(engine, conn, backend, schema, names, reflected)
    extra = column_scoped_facts(conn, schema, scope)
    for fact, per_table in extra.items():
        facts[fact] = {**facts.get(fact, {}), **per_table}
    return names, facts | {"access": scope, "warnings": warnings}


def _reflect_facts(engine: sa.Engine, conn: sa.Connection, backend: str, schema: str | None, names: list[str],
                   reflected: list[str]) -> dict:
    if not reflected:  # an empty filter would mean every table to SQLAlchemy
        return {"columns": {}, "pk_constraint": {}, "foreign_keys": {}, "table_comment": {},
                "counts": _row_counts(conn, backend, schema, names) if names else {}}

    def multi(fact: str) -> Any:
        return lambda c: _multi(getattr(sa.inspect(c), f"get_multi_{fact}"), schema=schema, filter_names=reflected)

    if backend == "sqlite":
        facts = {fact: multi(fact)(conn) for fact in ("columns", "pk_constraint", "foreign_keys", "table_comment")}
        return facts | {"counts": _row_counts(conn, backend, schema, names)}

    def on_own_connection(job: Any) -> Any:
        with engine.connect() as own:
            return job(own)

    pool = _reflect_pool()
    # Foreign keys first: of the queries handed off, they keep the server busiest.
    futures = {
        "foreign_keys": pool.submit(on_own_connection, multi("foreign_keys")),
        "rest": pool.submit(on_own_connection, lambda c: {
            "pk_constraint": multi("pk_constraint")(c),
            "table_comment": multi("table_comment")(c),
            "counts": _row_counts(c, backend, schema, names),
        }),
    }
    try:
        facts = {"columns": multi("columns")(conn)}
    finally:
        wait(futures.values())  # no query outlives the call, even when one of them fails
    facts["foreign_keys"] = futures["foreign_keys"].result()
    return facts | futures["rest"].result()
