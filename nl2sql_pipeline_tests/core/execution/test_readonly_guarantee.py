"""The read-only guarantee on real engines and roles: a corpus of hostile statements by class is
refused, and nothing changes, leaks, stays locked or dies (see hostile_classes.sql)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from nl2sql_pipeline.core.execution import ReadOnlyExecutor, parse_query
from nl2sql_pipeline.demo import load_demo
from nl2sql_pipeline_tests.guarantee_support import (
    EXCLUDE,
    Env,
    FreezingProxy,
    checksum,
    class_cases,
    files_in,
    mysql_env,
    pg_env,
    sqlite_env,
)

ENVS = ["sqlite", "postgres-superuser", "postgres-reader", "postgres-scs_off", "mysql-root", "mysql-reader",
        "mysql-no_backslash"]


@pytest.fixture(params=ENVS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    engine, _, kind = request.param.partition("-")
    if engine == "sqlite":
        with sqlite_env(tmp_path) as e:
            yield e
    elif engine == "postgres":
        with pg_env(kind) as e:
            yield e
    else:
        with mysql_env(kind) as e:
            yield e


def _snapshot(env: Env) -> list[dict[str, str]]:
    return [checksum(u) for u in (env.admin_url, *env.extra_admin)]


def _victim(env: Env) -> tuple[sa.Connection, object]:
    """A live session of the executor's own role, whose identity must survive the corpus."""
    engine = sa.create_engine(env.url)
    conn = engine.connect()
    ident = {"postgres": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}.get(env.dialect, "SELECT 1")
    return conn, conn.exec_driver_sql(ident).scalar()


def test_class_corpus_is_refused_and_changes_nothing(env: Env) -> None:
    cases = class_cases(env.values())
    assert len(cases) >= 100
    before = _snapshot(env)
    victim, victim_id = _victim(env)
    engine_name = {"sqlite": "sqlite", "postgres": "postgres", "mysql": "mysql"}[env.dialect]
    try:
        with ReadOnlyExecutor(env.url, env.dialect, timeout_s=3, exclude=EXCLUDE) as executor:
            for sql, engines in cases:
                result = executor.execute(sql)
                assert env.secret not in repr(result), f"{env.label} leaked the secret: {sql!r} -> {result}"
                if engines is not None and engine_name not in engines:
                    continue
                gate = parse_query(sql, env.dialect)[1].kind
                refused = not result.ok and (result.error_kind == "rejected" or gate == "syntax")
                assert refused, f"{env.label}: {sql!r} -> {result.error_kind}: {result.error}"
                assert result.error and len(result.error) > 10
            assert executor.execute("SELECT count(*) FROM orders").rows == [(800,)]
        # The victim lives on as the same session.
        ident = {"postgres": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}.get(env.dialect, "SELECT 1")
        assert victim.exec_driver_sql(ident).scalar() == victim_id
    finally:
        victim.close()
    assert _snapshot(env) == before
    assert files_in(env.out_dir) == []


def test_string_escape_settings_are_pinned(env: Env) -> None:
    """`'x\\'` ends the string under standard_conforming_strings=on / NO_BACKSLASH_ESCAPES and
    continues it otherwise: the executor pins the reading the gate assumes, whatever the role,
    database or session started with, so these run as the harmless selects the gate saw."""
    if env.dialect == "postgres":
        sql = ("SELECT 'x\\' AS a, '; COMMIT; BEGIN READ WRITE; INSERT INTO stores (store_id, store_name) "
               "VALUES (995, ''x''); COMMIT; --' AS b")
        expected = [("x\\", "; COMMIT; BEGIN READ WRITE; INSERT INTO stores (store_id, store_name) VALUES (995, 'x'); COMMIT; --")]
    elif env.dialect == "mysql":
        # Unpinned, `'x\'` would end the string and LOAD_FILE would return the secret.
        path = "0x" + str(env.secret_file).encode().hex()
        sql = f"SELECT 'x\\', LOAD_FILE({path}) AS b, ' AS a -- '"
        expected = [(f"x', LOAD_FILE({path}) AS b, ",)]
    else:
        sql, expected = "SELECT 'x\\' AS a", [("x\\",)]
    before = _snapshot(env)
    with ReadOnlyExecutor(env.url, env.dialect, timeout_s=3, exclude=EXCLUDE) as executor:
        result = executor.execute(sql)
        assert result.ok and result.rows == expected, result
        assert env.secret not in repr(result)
        conn = executor._session().conn
        if env.dialect != "sqlite":
            cur = conn.cursor()
            if env.dialect == "postgres":
                cur.execute("SHOW standard_conforming_strings")
                assert cur.fetchone()[0] == "on"
                conn.rollback()
            elif env.dialect == "mysql":
                cur.execute("SELECT @@SESSION.sql_mode")
                mode = cur.fetchone()[0]
                assert "NO_BACKSLASH_ESCAPES" not in mode and "ANSI_QUOTES" not in mode
    assert _snapshot(env) == before


# SQLite keeps no session state a read-only query can set: the server engines only
@pytest.mark.parametrize("env", [e for e in ENVS if e != "sqlite"], indirect=True)
def test_session_state_does_not_survive_a_query(env: Env) -> None:
    """Locks and variables a query might leave behind are gone before the next one runs (set
    here through the raw session, as the gate refuses the functions that would set them)."""
    with ReadOnlyExecutor(env.url, env.dialect, timeout_s=3, exclude=EXCLUDE) as executor:
        assert executor.execute("SELECT 1").ok
        session = executor._session()
        if env.dialect == "postgres":
            session.conn.rollback()
            with session.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(4242)")
            session.conn.commit()
        else:
            with session.conn.cursor() as cur:
                cur.execute("SET @leak = 'x'")
                cur.execute("SELECT GET_LOCK('nl2sql_probe', 0)")
        assert executor.execute("SELECT count(*) FROM stores").rows == [(12,)]
        with session.conn.cursor() as cur:
            if env.dialect == "postgres":
                cur.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
                assert cur.fetchone()[0] == 0
                session.conn.rollback()
            else:
                cur.execute("SELECT @leak, IS_USED_LOCK('nl2sql_probe')")
                assert cur.fetchone() == (None, None)


@pytest.mark.parametrize("fixture", ["pg_db", "mysql_db"])
def test_a_statement_the_engine_cannot_stop_is_cut_at_its_deadline(request: pytest.FixtureRequest, fixture: str) -> None:
    url = make_url(request.getfixturevalue(fixture))
    engine = sa.create_engine(url)
    load_demo(engine, "sales_cn")
    engine.dispose()
    proxy = FreezingProxy(url.host or "127.0.0.1", url.port or (5432 if fixture == "pg_db" else 3306))
    dialect = "postgres" if fixture == "pg_db" else "mysql"
    try:
        with ReadOnlyExecutor(url.set(host="127.0.0.1", port=proxy.port), dialect, timeout_s=1.0) as executor:
            assert executor.execute("SELECT count(*) FROM stores").rows == [(12,)]
            proxy.frozen.set()
            started = time.perf_counter()
            result = executor.execute("SELECT count(*) FROM orders")
            elapsed = time.perf_counter() - started
            proxy.frozen.clear()
            assert result.error_kind == "timeout" and not result.ok, result
            assert elapsed < 1.5, elapsed
            assert executor.execute("SELECT count(*) FROM stores").rows == [(12,)]  # a fresh session
    finally:
        proxy.close()
