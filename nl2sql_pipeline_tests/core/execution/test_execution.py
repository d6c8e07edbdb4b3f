"""The read-only executor on real SQLite, PostgreSQL and MariaDB: a hostile corpus changes nothing."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.execution import QueryLimits, ReadOnlyExecutor, close_executors, executor_for, parse_query
from nl2sql_pipeline.core.execution.errors import stripped
from nl2sql_pipeline.demo import load_demo
from nl2sql_pipeline_tests.conftest import DATA
from nl2sql_pipeline_tests.guarantee_support import checksum

HOSTILE = DATA / "validation" / "hostile.sql"
ENDLESS = {
    "recursive CTE": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    "cartesian join": "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e",
}


def hostile_cases(scratch: Path) -> list[str]:
    """The corpus, with every file path pointed into the test's own folder."""
    chunks = HOSTILE.read_text(encoding="utf-8").split("\n----\n")[1:]
    return [c.strip().replace("/tmp/", f"{scratch}/") for c in chunks if c.strip()]


@pytest.fixture
def sqlite_copy(tmp_path: Path) -> Path:
    path = tmp_path / "db" / "sales_cn.sqlite"
    path.parent.mkdir()
    engine = sa.create_engine(f"sqlite:///{path}")
    load_demo(engine, "sales_cn")
    engine.dispose()
    return path


def _loaded(url: str) -> str:
    engine = sa.create_engine(url)
    load_demo(engine, "sales_cn")
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def engine_case(request: pytest.FixtureRequest, sqlite_copy: Path) -> Iterator[tuple[str, str]]:
    """(url, sqlglot dialect) of the sales_cn demo on each engine."""
    if request.param == "sqlite":
        yield sqlite_url(sqlite_copy, read_only=True).render_as_string(hide_password=False), "sqlite"
    elif request.param == "postgres":
        yield _loaded(request.getfixturevalue("pg_db")), "postgres"
    else:
        yield _loaded(request.getfixturevalue("mysql_db")), "mysql"


def _check_url(url: str) -> str:
    """A writable URL for checksums (the SQLite one the executor gets is read-only)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{parsed.database.removeprefix('file:')}"
    return url


def test_corpus_is_large_enough(tmp_path: Path) -> None:
    assert len(hostile_cases(tmp_path)) >= 100


def test_hostile_corpus_changes_nothing(engine_case: tuple[str, str], tmp_path: Path) -> None:
    url, dialect = engine_case
    before = checksum(_check_url(url))
    files_before = sorted(p.name for p in tmp_path.rglob("*"))
    with ReadOnlyExecutor(url, dialect, timeout_s=2) as executor:
        for sql in hostile_cases(tmp_path):
            result = executor.execute(sql)
            assert not result.ok, f"{dialect} ran {sql!r}"
            assert result.error_kind == "rejected", f"{dialect}: {sql!r} -> {result.error_kind}: {result.error}"
            assert result.error and len(result.error) > 10
        # The session survived the corpus and still answers queries.
        after_corpus = executor.execute("SELECT count(*) FROM orders")
        assert after_corpus.ok and after_corpus.rows == [(800,)]
    assert checksum(_check_url(url)) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == files_before  # no ATTACHed, dumped or copied file


def test_engine_layer_holds_when_the_gate_is_bypassed(sqlite_copy: Path) -> None:
    """Layer 2 on its own: SQLite refuses ATTACH and writes even if a statement got past sqlglot."""
    with ReadOnlyExecutor(sqlite_url(sqlite_copy, read_only=True), "sqlite") as executor:
        session = executor._session()
        for sql in (f"ATTACH '{sqlite_copy.parent}/x.db' AS x", "DELETE FROM orders", "CREATE TEMP TABLE t (x)"):
            with pytest.raises(Exception) as err:
                session.run(sql, 1.0, 10)
            assert executor.execute("SELECT 1").ok
            assert "attached" in str(err.value) or "readonly" in str(err.value) or "query_only" in str(err.value)
    assert not (sqlite_copy.parent / "x.db").exists()


def test_select_only_role_on_postgres(pg_db: str, tmp_path: Path) -> None:
    """The README's recommended PostgreSQL setup: a login role that can only SELECT."""
    _loaded(pg_db)
    role = f"nl2sql_reader_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_db, isolation_level="AUTOCOMMIT")
    dbname = make_url(pg_db).database
    with admin.connect() as conn:
        for stmt in (
            f"CREATE ROLE {role} LOGIN",
            f"GRANT CONNECT ON DATABASE {dbname} TO {role}",
            f"GRANT USAGE ON SCHEMA public TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
            f"ALTER ROLE {role} SET default_transaction_read_only = on",
            f"ALTER ROLE {role} SET statement_timeout = '30s'",
        ):
            conn.exec_driver_sql(stmt)
    reader_url = make_url(pg_db).set(username=role, password=None)
    try:
        before = checksum(pg_db)
        with ReadOnlyExecutor(reader_url, "postgres", timeout_s=2) as executor:
            assert executor.execute("SELECT count(*) FROM customers").rows == [(300,)]
            for sql in hostile_cases(tmp_path):
                assert executor.execute(sql).error_kind == "rejected", sql
            # Even the escape the stack notes describe fails for this role without the gate.
            raw = executor._session().conn
            raw.rollback()
            raw.autocommit = True
            with raw.cursor() as cur, pytest.raises(Exception, match="read-only|permission denied"):
                cur.execute("SELECT 1; COMMIT; SET default_transaction_read_only = off; DELETE FROM orders")
        assert checksum(pg_db) == before
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


@pytest.mark.parametrize("kind", sorted(ENDLESS))
def test_endless_query_stops_with_timeout(engine_case: tuple[str, str], kind: str) -> None:
    url, dialect = engine_case
    sql = ENDLESS[kind]
    if dialect == "mysql" and kind == "recursive CTE":
        # MariaDB's max_recursive_iterations (1000 here) ends it first; budget the step count instead.
        sql = sql.replace("FROM r)", "FROM r, orders o WHERE n < 100000000)")
    with ReadOnlyExecutor(url, dialect, timeout_s=0.5) as executor:
        result = executor.execute(sql)
        assert result.error_kind == "timeout", result
        assert executor.execute("SELECT count(*) FROM stores").rows == [(12,)]  # usable afterwards


def test_rows_columns_and_cap(engine_case: tuple[str, str]) -> None:
    url, dialect = engine_case
    with ReadOnlyExecutor(url, dialect, row_cap=5) as executor:
        result = executor.execute("SELECT customer_id, customer_name AS who FROM customers ORDER BY customer_id;")
        assert result.ok and result.columns == ["customer_id", "who"]
        assert result.row_count == 5 and result.truncated and result.rows[0][0] == 1
        full = executor.execute("SELECT store_id FROM stores", row_cap=100)
        assert full.row_count == 12 and not full.truncated
        empty = executor.execute("SELECT store_id FROM stores WHERE 1 = 0")
        assert empty.ok and empty.row_count == 0 and empty.columns == ["store_id"]


def test_typed_failures(engine_case: tuple[str, str]) -> None:
    url, dialect = engine_case
    with ReadOnlyExecutor(url, dialect) as executor:
        assert executor.execute("SELECT FROM WHERE").error_kind == "syntax"
        missing = executor.execute("SELECT nope FROM stores")
        assert missing.error_kind == "runtime" and "nope" in (missing.error or "")
        assert executor.execute("").error_kind == "syntax"
        assert executor.execute("SELECT store_name FROM stores WHERE store_id = 1").ok


def test_one_connection_per_thread_reused(engine_case: tuple[str, str]) -> None:
    url, dialect = engine_case
    with ReadOnlyExecutor(url, dialect) as executor:
        for _ in range(5):
            assert executor.execute("SELECT 1").ok
        main = executor._session()
        assert len(executor._sessions) == 1
        seen: list[object] = []

        def worker() -> None:
            for _ in range(3):
                assert executor.execute("SELECT count(*) FROM orders").rows == [(800,)]
            seen.append(executor._session())

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(executor._sessions) == 3 and main not in seen and seen[0] is not seen[1]


def test_a_foreign_dialect_cannot_smuggle_statements(pg_db: str) -> None:
    """MySQL reads `'a\\'` as an unfinished string; PostgreSQL ends it there and runs the rest."""
    _loaded(pg_db)
    before = checksum(pg_db)
    # Without the engine-dialect check this empties payments (measured): PostgreSQL runs all five.
    sql = "SELECT 'a\\' ; COMMIT; BEGIN READ WRITE; DELETE FROM payments; COMMIT; -- '"
    with ReadOnlyExecutor(pg_db, "mysql") as executor:
        assert executor.dialect == "mysql" and parse_query(sql, "mysql")[1].kind is None  # the trap is real
        result = executor.execute(sql)
        assert result.error_kind == "rejected" and "as postgres" in (result.error or "")
        assert executor.execute("SELECT count(*) FROM payments").rows == [(662,)]
    assert checksum(pg_db) == before


def test_reconnects_after_the_server_drops_the_connection(pg_db: str) -> None:
    _loaded(pg_db)
    with ReadOnlyExecutor(pg_db, "postgres") as executor:
        assert executor.execute("SELECT 1").ok
        pid = executor._session().conn.get_backend_pid()  # pg_backend_pid() is not on the allowlist
        admin = sa.create_engine(pg_db, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        admin.dispose()
        assert not executor.execute("SELECT 1").ok  # the dropped connection is reported ...
        assert executor.execute("SELECT 1").ok  # ... and replaced
        assert executor._session().conn.get_backend_pid() != pid


def test_executor_for_is_cached_and_uses_the_config(demo_dir: Path, tmp_path: Path) -> None:
    path = shutil.copy(demo_dir / "sales_cn.sqlite", tmp_path / "s.sqlite")
    db = DatabaseConfig(name="s", url=f"sqlite:///{path}", validation={"timeout_s": 0.3, "row_cap": 7})
    try:
        executor = executor_for(db)
        assert executor is executor_for(db)
        assert (executor.timeout_s, executor.row_cap, executor.dialect) == (0.3, 7, "sqlite")
        assert executor.execute("SELECT * FROM customers").row_count == 7
        assert executor.execute(ENDLESS["recursive CTE"]).error_kind == "timeout"
    finally:
        close_executors()


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELECT 1; COMMIT; DELETE FROM t", "exactly one statement"),
        ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "DELETE"),
        ("SELECT * INTO x FROM t", "INTO"),
        ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
        ("DROP TABLE t", "DROP"),
        ("SELECT 1 /*!50000 ; DELETE FROM t */", "/*!"),
    ],
)
def test_rejection_reasons_name_the_problem(sql: str, fragment: str) -> None:
    tree, verdict = parse_query(sql, "postgres")
    assert tree is None and verdict.kind == "rejected" and fragment in (verdict.reason or "")


@pytest.mark.parametrize(
    "sql",
    [
        "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
        "SELECT 1 UNION SELECT 2",
        "(SELECT 1)",
        "SELECT 'a;b' AS s",
        "SELECT 1; ",
        "SELECT count(*) FROM (SELECT 1) AS q -- trailing comment",
    ],
)
@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_queries_pass_the_gate(sql: str, dialect: str) -> None:
    tree, verdict = parse_query(sql, dialect)
    assert tree is not None and verdict.kind is None, verdict


# One long built-in call per engine, out of reach of the engine's own interrupt checks on some
# versions; the executor's deadline must hold anyway (measured from outside, generous margins).
# Each must outlast the budget several times over yet end by itself within seconds: an
# uninterruptible call keeps running on the server after the client gives up (MariaDB's KILL
# does not stop LOCATE), and a larger one would burn a server core for hours after the test.
# The SQLite and MariaDB calls cost quadratic CPU time, so a fixed size is too short on a fast
# machine: their budget is a third of what the call takes here, measured on a plain connection.
SLOW_BUILTINS = {
    "sqlite": "SELECT instr(printf('%.*c', 800000, 'a'), printf('%.*c', 400000, 'a') || 'b')",
    "postgres": "SELECT max(md5(repeat(x::text, 20000))) FROM generate_series(1, 10000000) AS x",  # cancellable
    "mysql": "SELECT LOCATE(CONCAT(REPEAT('a', 80000), 'b'), REPEAT('a', 160000))",
}


def _budget_for(url: str, dialect: str) -> float:
    if dialect == "postgres":
        return 1.0  # cancellable, and far too long to time in full
    engine = sa.create_engine("sqlite://" if dialect == "sqlite" else url)
    try:
        with engine.connect() as plain:
            started = time.perf_counter()
            plain.exec_driver_sql(SLOW_BUILTINS[dialect]).fetchall()
            budget = min(1.0, (time.perf_counter() - started) / 3)
    finally:
        engine.dispose()
    assert budget >= 0.1, f"the slow {dialect} call is too fast on this machine to test a deadline: make it larger"
    return budget


def test_slow_builtins_stop_within_their_budget(engine_case: tuple[str, str]) -> None:
    url, dialect = engine_case
    budget = _budget_for(url, dialect)
    with ReadOnlyExecutor(url, dialect, timeout_s=budget) as executor:
        assert executor.execute("SELECT 1").ok  # connected: the budget measures the query alone
        started = time.perf_counter()
        result = executor.execute(SLOW_BUILTINS[dialect])
        elapsed = time.perf_counter() - started
        assert result.error_kind == "timeout" and not result.ok, result
        assert elapsed < 1.5 * budget, elapsed
        assert executor.execute("SELECT count(*) FROM stores").rows == [(12,)]  # usable afterwards


def test_results_are_capped_in_bytes_while_fetching(engine_case: tuple[str, str]) -> None:
    url, dialect = engine_case
    huge = {"sqlite": "SELECT zeroblob(300000000) FROM orders LIMIT 10",
            "postgres": "SELECT repeat('x', 300000000) FROM orders LIMIT 4",
            "mysql": "SELECT REPEAT('x', 3000000) FROM orders LIMIT 4"}[dialect]
    limits = QueryLimits(max_cell_bytes=1_000_000, max_result_bytes=5_000_000)
    with ReadOnlyExecutor(url, dialect, timeout_s=10, limits=limits) as executor:
        result = executor.execute(huge)
        assert not result.ok and result.error_kind == "runtime", result
        if dialect != "sqlite":
            assert "result too large" in (result.error or ""), result.error
        many = executor.execute("SELECT customer_name, customer_name, customer_name FROM customers, stores",
                                row_cap=100_000)
        assert ok_or_too_large(many)
        small = QueryLimits(max_cell_bytes=1000, max_result_bytes=2000)
    with ReadOnlyExecutor(url, dialect, limits=small) as executor:
        total = executor.execute("SELECT * FROM customers")
        assert not total.ok and "max_result_bytes" in (total.error or ""), total


def ok_or_too_large(result: object) -> bool:
    return getattr(result, "ok") or "result too large" in (getattr(result, "error") or "")


def test_errors_carry_no_values_from_the_database(pg_db: str) -> None:
    _loaded(pg_db)
    engine = sa.create_engine(pg_db)
    with engine.connect() as conn:
        names = [r[0] for r in conn.exec_driver_sql("SELECT customer_name FROM customers")]
    engine.dispose()
    with ReadOnlyExecutor(pg_db, "postgres") as executor:
        result = executor.execute("SELECT CAST(customer_name AS int) FROM customers")
        assert result.error_kind == "runtime" and "InvalidTextRepresentation [22P02]" in (result.error or "")
        assert not any(name in (result.error or "") for name in names), result.error
        missing = executor.execute("SELECT nope FROM stores")
        assert "nope" in (missing.error or "")  # what the query itself wrote may stay


def test_error_messages_keep_only_what_the_query_wrote() -> None:
    sql = "SELECT CAST(secret AS int), \"nope\" FROM t WHERE a = 'x'"
    assert stripped('invalid input syntax for type integer: "root:x:0:0"', sql) == 'invalid input syntax for type integer: "…"'
    assert stripped("Unknown column 'nope' in 'field list'", sql) == "Unknown column 'nope' in '…'"
    assert stripped("XPATH syntax error: '~root:x'", sql) == "XPATH syntax error: '…'"


def test_gate_reads_a_string_once_and_keeps_refusing(sqlite_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Synthesis, validation and the tie checks run the same SQL several times: the gate parses
    each string once; a refused string is refused every time, and the table policy still runs
    on every call (an executor limited to some tables refuses the others each time)."""
    import nl2sql_pipeline.core.execution.executor as executor_module

    parsed: list[str] = []
    real = executor_module.parse_query
    monkeypatch.setattr(executor_module, "parse_query", lambda sql, *a: parsed.append(sql) or real(sql, *a))
    with ReadOnlyExecutor(sqlite_url(sqlite_copy, read_only=True), "sqlite", include=["customers"]) as ex:
        for _ in range(3):
            assert ex.execute("SELECT count(*) FROM customers").ok
            assert ex.execute("DELETE FROM customers").error_kind == "rejected"
            outside = ex.execute("SELECT count(*) FROM orders")
            assert not outside.ok and outside.error_kind == "rejected", outside
    assert sorted(set(parsed)) == sorted(parsed)  # each string parsed once
    assert len(parsed) == 3
