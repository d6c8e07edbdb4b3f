"""Reflection benchmark (issue: foundation): a 500-table x 12-column schema with foreign keys on
PostgreSQL. Step 2 (+ step 3) vs bare batched reflection vs a naive per-table inspector loop,
measured in the same run. Targets: step 2+3 within 1.2x of bare batched reflection, and at
least 10x faster than the per-table loop.

    NL2SQL_BENCH_PG_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python benchmarks/bench_reflection.py [--tables 500] [--repeat 11]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

import sqlalchemy as sa

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import _cached_engine, engine_for
from nl2sql_pipeline.core.schema.metadata import extract_metadata


def build_schema(url: str, tables: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for i in range(tables):
            cols = ", ".join(f"c{j} {'integer' if j % 3 else 'text'}" for j in range(1, 10))
            fk = f", ref_id integer references t{i - 1}(id)" if i else ", ref_id integer"
            fk2 = f", ref2_id integer references t{i // 2}(id)" if i > 1 else ", ref2_id integer"
            conn.exec_driver_sql(f"create table t{i} (id integer primary key, {cols}{fk}{fk2})")
            conn.exec_driver_sql(f"comment on table t{i} is 'table {i}'")
    engine.dispose()


def bare_batched(engine: sa.Engine) -> int:
    insp = sa.inspect(engine)
    names = insp.get_table_names()
    cols = insp.get_multi_columns(filter_names=names)
    insp.get_multi_pk_constraint(filter_names=names)
    insp.get_multi_foreign_keys(filter_names=names)
    insp.get_multi_table_comment(filter_names=names)
    return sum(len(c) for c in cols.values())


def per_table_loop(engine: sa.Engine) -> int:
    insp = sa.inspect(engine)
    n = 0
    for name in insp.get_table_names():
        n += len(insp.get_columns(name))
        insp.get_pk_constraint(name)
        insp.get_foreign_keys(name)
        insp.get_table_comment(name)
    return n


def timed_interleaved(fns: list, repeat: int) -> tuple[list[tuple[float, float]], list[list[float]]]:
    """(median wall seconds, median client CPU seconds) per function, and every round's wall
    seconds, run in turns so that load changes hit all alike. Client CPU excludes the server's
    share but is steadier on a busy machine."""
    walls: list[list[float]] = [[] for _ in fns]
    cpus: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            started, cpu = time.perf_counter(), time.process_time()
            fn()
            walls[i].append(time.perf_counter() - started)
            cpus[i].append(time.process_time() - cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)], walls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    server = sa.make_url(os.environ.get("NL2SQL_BENCH_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"))
    name = f"nl2sql_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"create database {name}")
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        build_schema(url, args.tables)
        os.environ["NL2SQL_BENCH_DB_URL"] = url
        db = DatabaseConfig(name="bench", url_env="NL2SQL_BENCH_DB_URL")
        engine = engine_for(db)
        bare_batched(engine)  # warm the pool and the catalog caches equally for all three

        def step2_and_3() -> None:
            build_cards(extract_metadata(engine, db, "postgres"))

        (base, ours, naive), walls = timed_interleaved(
            [lambda: bare_batched(engine), step2_and_3, lambda: per_table_loop(engine)], args.repeat
        )
        rows = [
            ("bare batched reflection (get_multi_*)", base),
            ("step 2 + step 3 (extract_metadata + build_cards)", ours),
            ("naive per-table inspector loop", naive),
        ]
        print(f"PostgreSQL, {args.tables} tables x 12 columns, median of {args.repeat}\n")
        print(f"| {'method':<50} | {'wall s':>7} | {'client CPU s':>12} |\n|{'-' * 52}|{'-' * 9}|{'-' * 14}|")
        for label, (wall, cpu) in rows:
            print(f"| {label:<50} | {wall:>7.3f} | {cpu:>12.3f} |")
        # Each round's own ratio too: on a machine whose speed drifts, the median of paired ratios
        # is steadier than the ratio of medians.
        paired = statistics.median(o / b for b, o in zip(walls[0], walls[1], strict=True))
        print(f"\nstep 2+3 / bare batched = {ours[0] / base[0]:.2f}x wall (median of per-round ratios "
              f"{paired:.2f}x), {ours[1] / base[1]:.2f}x client CPU (target <= 1.2x)")
        print(f"per-table loop / step 2+3 = {naive[0] / ours[0]:.1f}x wall (target >= 10x)")
    finally:
        _cached_engine.cache_clear()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"select pg_terminate_backend(pid) from pg_stat_activity where datname = '{name}'")
            conn.exec_driver_sql(f"drop database if exists {name}")
        admin.dispose()


if __name__ == "__main__":
    main()
