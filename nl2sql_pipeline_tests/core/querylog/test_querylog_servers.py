"""The query log on real servers: report files in the PostgreSQL dialect, pg_stat_statements and
MariaDB statement digests with parameters filled so they execute, and the notes a server
without them gives.

pg_stat_statements records only when preloaded, and the shared server does not preload it (its
settings must not change): the recording test runs on a private PostgreSQL started with
`shared_preload_libraries=pg_stat_statements`; likewise the digest test on a private MariaDB
with `--performance-schema=ON`. The shared servers show the not-readable paths.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa
import sqlglot
from sqlalchemy.engine import make_url

from nl2sql_pipeline.core.config import DatabaseConfig, parse_databases
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.querylog import logged_queries
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests import conftest, querylog_schema
from nl2sql_pipeline_tests.core.querylog.test_querylog import NEVER_RUN, RecordingExecutor
from nl2sql_pipeline_tests.private_servers import private_mariadb, private_postgres

DATA = conftest.DATA / "querylog"


def _config(url: str, **query_log: object) -> DatabaseConfig:
    return parse_databases({"databases": [{"name": "erp", "url": url, "query_log": query_log}]}).databases[0]


def _run(url: str, statements: list[tuple[str, tuple]]) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for sql, params in statements:
            conn.exec_driver_sql(sql, params) if params else conn.exec_driver_sql(sql)
    engine.dispose()


def _salary_sum(url: str) -> object:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        total = conn.exec_driver_sql("select sum(salary), count(*) from staff").one()
    engine.dispose()
    return tuple(total)


APP_QUERIES = [  # what the company's applications ran, with bound values
    *[("SELECT cust_name FROM customer WHERE level = %s", (lv,)) for lv in "ABCAB"],
    *[("SELECT name, salary FROM staff WHERE dept_id = %s AND salary > %s", (d, 6000)) for d in (2, 3)],
    ("SELECT c.city, COUNT(*) FROM customer c JOIN sales_order o ON o.cust_id = c.cust_id WHERE o.status = 2 GROUP BY c.city", ()),
    ("SELECT cust_id, amount, RANK() OVER (ORDER BY amount DESC) FROM sales_order WHERE status = 3", ()),
    ("UPDATE staff SET salary = salary + 0 WHERE staff_id = %s", (1,)),
    ("SELECT product_name FROM product WHERE list_price BETWEEN %s AND %s", (50, 300)),
]


def _pairs_by_fragment(logged, fragment: str):
    return next(p for p in logged.pairs if fragment in p.sql.replace("`", "").replace('"', ""))  # quoted in MariaDB


def test_report_files_in_the_postgres_dialect(pg_db: str) -> None:
    querylog_schema.load(pg_db)
    db = _config(pg_db, sql_dir=str(DATA / "reports_postgres"))
    executor = RecordingExecutor(make_url(pg_db), "postgres")
    before = _salary_sum(pg_db)
    logged = logged_queries(db, read_schema(db), executor)
    executor.close()
    assert not [s for s in executor.seen if s.split(None, 1)[0].upper() in NEVER_RUN or "TRUNCATE" in s.upper()]
    assert _salary_sum(pg_db) == before
    reasons = logged.dropped_by_reason()
    assert reasons["not a query: DML (INSERT)"] == 1 and reasons["not a query: DDL (TRUNCATE)"] == 1
    human = next(p for p in logged.pairs if p.meta["question_source"] == "human")
    assert human.question == "2024年每个季度的已付款订单金额合计是多少？" and "date_trunc" in human.sql.lower()
    # $1, $2 (and `$1::date`) filled from real rows; the date reads as a date in the offline question
    dated = _pairs_by_fragment(logged, "hire_date >=")
    assert dated.meta["question_source"] == "rule" and "CAST('20" in dated.sql and "20" in dated.question
    checker = ReadOnlyExecutor(make_url(pg_db), "postgres")
    for sql in (_pairs_by_fragment(logged, "level =").sql, dated.sql):
        result = checker.execute(sql)
        assert "$1" not in sql and result.ok and result.row_count > 0, (sql, result.error)
    checker.close()
    tagged = next(d for d in logged.dropped if "不是语句的结束;" in d.sql)  # one statement, not split at its `;`
    assert tagged.reason.startswith("not read-only")  # the gate refuses dollar-quoted strings
    assert "IR does not reproduce" not in str(reasons)
    rule = [p for p in logged.pairs if p.meta["question_source"] == "rule"]
    print(f"\npostgres reports: {len(logged.pairs)} pairs ({len(rule)} phrased offline); cannot express: {logged.unrenderable}")
    print("\n".join(f"  {p.question} | {p.sql}" for p in logged.pairs))


def test_pg_stat_statements_recorded_on_a_private_server(tmp_path: Path) -> None:
    with private_postgres("shared_preload_libraries=pg_stat_statements") as admin:
        _run(admin, [("CREATE DATABASE erp", ())])
        app = make_url(admin).set(database="erp").render_as_string(hide_password=False)
        querylog_schema.load(app)
        reader = f"reader_{uuid.uuid4().hex[:8]}"
        _run(app, [("CREATE EXTENSION pg_stat_statements", ()), (f"CREATE ROLE {reader} LOGIN", ()),
                   (f"GRANT pg_read_all_stats TO {reader}", ()), (f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader}", ()),
                   (f"ALTER ROLE {reader} SET default_transaction_read_only = on", ()),
                   ("SELECT pg_stat_statements_reset()", ())])
        _run(app, APP_QUERIES)
        before = _salary_sum(app)
        url = make_url(app).set(username=reader).render_as_string(hide_password=False)
        db = _config(url, pg_stat_statements=True)
        meta = read_schema(db)
        executor = RecordingExecutor(make_url(url), "postgres")
        logged = logged_queries(db, meta, executor)
        assert not [s for s in executor.seen if s.split(None, 1)[0].upper() in NEVER_RUN]
        assert _salary_sum(app) == before
        level = _pairs_by_fragment(logged, "level =")
        assert level.meta["count"] == 5 and level.meta["parameters_filled"]  # five calls, one normalized statement
        staff = _pairs_by_fragment(logged, "dept_id =")
        assert staff.meta["count"] == 2
        for pair in (level, staff, _pairs_by_fragment(logged, "BETWEEN")):
            result = executor.execute(pair.sql)
            assert "$" not in pair.sql and result.ok and result.row_count > 0, (pair.sql, result.error)
        reasons = logged.dropped_by_reason()
        assert reasons["not a query: DML (UPDATE)"] == 1
        assert reasons.get("no question: window function") == 1
        assert logged.read["pg_stat_statements"] >= len(APP_QUERIES) - 6
        again = logged_queries(db, meta, executor)  # the pipeline's own queries never come back as company SQL
        executor.close()
        assert again.templates == logged.templates and {p.sql for p in again.pairs} == {p.sql for p in logged.pairs}
        blind = f"blind_{uuid.uuid4().hex[:8]}"  # may read the tables, not other roles' statement texts
        _run(app, [(f"CREATE ROLE {blind} LOGIN", ()), (f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {blind}", ())])
        blind_url = make_url(app).set(username=blind).render_as_string(hide_password=False)
        blind_executor = ReadOnlyExecutor(make_url(blind_url), "postgres")
        hidden = logged_queries(_config(blind_url, pg_stat_statements=True), meta, blind_executor)
        blind_executor.close()
        assert hidden.pairs == [] and any("hidden from this role; GRANT pg_read_all_stats" in n for n in hidden.notes)


def test_pg_stat_statements_on_the_shared_server_says_why_it_is_unreadable(pg_db: str) -> None:
    querylog_schema.load(pg_db)
    db = _config(pg_db, pg_stat_statements=True)
    meta = read_schema(db)
    executor = ReadOnlyExecutor(make_url(pg_db), "postgres")
    missing = logged_queries(db, meta, executor)
    assert missing.pairs == [] and "not installed" in missing.notes[0]
    _run(pg_db, [("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", ())])  # in the scratch database only
    engine = sa.create_engine(pg_db)
    with engine.connect() as conn:
        preloaded = "pg_stat_statements" in conn.exec_driver_sql("show shared_preload_libraries").scalar()
    engine.dispose()
    unreadable = logged_queries(db, meta, executor)
    executor.close()
    if not preloaded:
        assert unreadable.pairs == [] and "shared_preload_libraries" in unreadable.notes[0]


def test_mariadb_statement_digests_on_a_private_server() -> None:
    with private_mariadb("--performance-schema=ON") as admin:
        _run(admin, [("CREATE DATABASE erp CHARACTER SET utf8mb4", ())])
        app = make_url(admin).set(database="erp").render_as_string(hide_password=False)
        querylog_schema.load(app)
        reader = f"reader_{uuid.uuid4().hex[:8]}"
        _run(app, [(f"CREATE USER '{reader}'@'127.0.0.1'", ()), (f"GRANT SELECT ON erp.* TO '{reader}'@'127.0.0.1'", ()),
                   (f"GRANT SELECT ON performance_schema.* TO '{reader}'@'127.0.0.1'", ()),
                   ("TRUNCATE performance_schema.events_statements_summary_by_digest", ())])
        _run(app, [*APP_QUERIES, ("SELECT name FROM staff WHERE dept_id IN (%s, %s, %s)", (2, 3, 4))])
        before = _salary_sum(app)
        url = make_url(app).set(username=reader).render_as_string(hide_password=False)
        db = _config(url, performance_schema=True)
        meta = read_schema(db)
        executor = RecordingExecutor(make_url(url), "mysql")
        logged = logged_queries(db, meta, executor)
        assert not [s for s in executor.seen if s.split(None, 1)[0].upper() in NEVER_RUN]
        assert _salary_sum(app) == before
        level = _pairs_by_fragment(logged, "level =")
        assert level.meta["count"] == 5
        for pair in (level, _pairs_by_fragment(logged, "dept_id ="), _pairs_by_fragment(logged, "IN (")):
            result = executor.execute(pair.sql)
            assert "?" not in pair.sql and result.ok and result.row_count > 0, (pair.sql, result.error)
        reasons = logged.dropped_by_reason()
        assert reasons["not a query: DML (UPDATE)"] == 1 and "no question: the IR does not reproduce it exactly" not in reasons
        listed = _pairs_by_fragment(logged, "dept_id IN (")  # `IN (...)` of the digest: two real, different values
        assert len(set(sqlglot.parse_one(listed.sql, read="mysql").find(sqlglot.exp.In).expressions)) == 2
        assert "NAME" not in listed.sql and "name" in listed.sql  # the digest's upper-cased keyword-like names respelled
        again = logged_queries(db, meta, executor)  # its own SET STATEMENT ... FOR SELECT digests are dropped
        executor.close()
        assert again.templates == logged.templates and {p.sql for p in again.pairs} == {p.sql for p in logged.pairs}


def test_performance_schema_off_on_the_shared_server_is_a_note(mysql_db: str) -> None:
    querylog_schema.load(mysql_db)
    db = _config(mysql_db, performance_schema=True)
    executor = ReadOnlyExecutor(make_url(mysql_db), "mysql")
    logged = logged_queries(db, read_schema(db), executor)
    executor.close()
    engine = sa.create_engine(mysql_db)
    with engine.connect() as conn:
        enabled = conn.exec_driver_sql("select @@performance_schema").scalar()
    engine.dispose()
    if not enabled:
        assert logged.pairs == [] and "performance_schema: off" in logged.notes[0]
