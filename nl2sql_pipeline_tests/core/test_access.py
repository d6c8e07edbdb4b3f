"""Step 2 lists only what the connecting role may SELECT: a PostgreSQL role and a MariaDB user
lacking SELECT on one table and on one column see neither in the metadata, the cards or the
prompts' DDL, and the notes say what was hidden and why."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import _cached_engine
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests import pii_data
from nl2sql_pipeline_tests.servers import scratch_pg_role

READABLE = ["customer_id", "full_name", "mobile", "email", "card", "home", "level", "city"]  # not id_no


def _payroll(conn: sa.Connection) -> None:
    conn.exec_driver_sql("create table payroll (payroll_id int primary key, customer_id int references "
                         "customers (customer_id), salary numeric(10, 2))")


@contextmanager
def _pg_role(pg_db: str) -> Iterator[str]:
    pii_data.build(pg_db)
    engine = sa.create_engine(pg_db)
    with engine.begin() as conn:
        _payroll(conn)
    engine.dispose()
    grants = ["grant select on orders to {role}", f"grant select ({', '.join(READABLE)}) on customers to {{role}}"]
    with scratch_pg_role(pg_db, "nl2sql_scoped_", grants) as url:
        yield url


@contextmanager
def _mysql_user(mysql_db: str) -> Iterator[str]:
    pii_data.build(mysql_db)
    engine = sa.create_engine(mysql_db)
    url = sa.make_url(mysql_db)
    user, password = "nl2sql_scoped_" + uuid.uuid4().hex[:10], uuid.uuid4().hex
    with engine.begin() as conn:
        _payroll(conn)
        conn.exec_driver_sql(f"create user '{user}'@'%%' identified by '{password}'")
        conn.exec_driver_sql(f"grant select on `{url.database}`.orders to '{user}'@'%%'")
        conn.exec_driver_sql(f"grant select ({', '.join(READABLE)}) on `{url.database}`.customers to '{user}'@'%%'")
    try:
        yield url.set(username=user, password=password).render_as_string(hide_password=False)
    finally:
        _cached_engine.cache_clear()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"drop user '{user}'@'%%'")
        engine.dispose()


def _check_scoped(url: str, monkeypatch: pytest.MonkeyPatch, dialect: str) -> list[str]:
    monkeypatch.setenv("NL2SQL_TEST_SCOPED_URL", url)
    meta = read_schema(DatabaseConfig(name="scoped", url_env="NL2SQL_TEST_SCOPED_URL"))
    assert meta.table_names == ["customers", "orders"]
    assert [c.name for c in meta.table("customers").columns] == READABLE
    assert meta.table("customers").primary_key == ["customer_id"]
    assert [fk.ref_table for fk in meta.table("orders").foreign_keys] == ["customers"]
    cards = build_cards(meta)
    text = cards.render() + "".join(c.ddl for c in cards.cards)
    assert "payroll" not in text and "id_no" not in text
    # what is listed is what the role can read
    with ReadOnlyExecutor(url, dialect) as executor:
        assert executor.execute(f"SELECT {', '.join(READABLE)} FROM customers").ok
        assert not executor.execute("SELECT id_no FROM customers").ok
    return meta.notes


def test_postgres_role_sees_only_what_it_may_select(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _pg_role(pg_db) as url:
        notes = _check_scoped(url, monkeypatch, "postgres")
    assert "access: table payroll hidden (no SELECT privilege on the table or any of its columns)" in notes
    assert "access: column customers.id_no hidden (no SELECT privilege on the column)" in notes


def test_mariadb_user_sees_only_what_it_may_select(mysql_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _mysql_user(mysql_db) as url:
        notes = _check_scoped(url, monkeypatch, "mysql")
    # the server itself hides payroll; customers is granted column by column
    assert any(n.startswith("access: table customers lists only its 8 granted column(s)") for n in notes)


def test_full_privileges_hide_nothing(pg_db: str) -> None:
    pii_data.build(pg_db)
    meta = read_schema(DatabaseConfig(name="full", url=pg_db))
    assert "id_no" in [c.name for c in meta.table("customers").columns]
    assert not [n for n in meta.notes if n.startswith("access:")]


def test_mariadb_grants_through_a_role_hide_nothing(mysql_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pii_data.build(mysql_db)
    engine = sa.create_engine(mysql_db)
    url = sa.make_url(mysql_db)
    user, role, password = ("nl2sql_role_user_" + uuid.uuid4().hex[:8], "nl2sql_role_" + uuid.uuid4().hex[:8],
                            uuid.uuid4().hex)
    with engine.begin() as conn:
        for sql in (f"create role {role}", f"grant select on `{url.database}`.* to {role}",
                    f"create user '{user}'@'%%' identified by '{password}'", f"grant {role} to '{user}'@'%%'",
                    f"set default role {role} for '{user}'@'%%'"):
            conn.exec_driver_sql(sql)
    try:
        monkeypatch.setenv("NL2SQL_TEST_SCOPED_URL", url.set(username=user, password=password)
                           .render_as_string(hide_password=False))
        meta = read_schema(DatabaseConfig(name="by_role", url_env="NL2SQL_TEST_SCOPED_URL"))
        assert meta.table_names == ["customers", "orders"] and "id_no" in [c.name for c in meta.table("customers").columns]
        assert not [n for n in meta.notes if n.startswith("access:")]
    finally:
        _cached_engine.cache_clear()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"drop user '{user}'@'%%'")
            conn.exec_driver_sql(f"drop role {role}")
        engine.dispose()


def test_a_role_that_may_read_nothing_is_told_what_to_grant(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from nl2sql_pipeline.core.errors import ConfigError

    pii_data.build(pg_db)
    with scratch_pg_role(pg_db, "nl2sql_none_", []) as url:
        monkeypatch.setenv("NL2SQL_TEST_SCOPED_URL", url)
        with pytest.raises(ConfigError, match="may SELECT none of its 2 selected table\\(s\\) \\(customers, orders: no SELECT"
                                              ".*GRANT SELECT"):
            read_schema(DatabaseConfig(name="none", url_env="NL2SQL_TEST_SCOPED_URL"))


def test_a_schema_without_usage_hides_its_tables(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sa.create_engine(pg_db)
    with engine.begin() as conn:
        conn.exec_driver_sql("create schema crm")
        conn.exec_driver_sql("create table crm.leads (lead_id int primary key, source text)")
        conn.exec_driver_sql("create table crm.visits (visit_id int primary key, lead_id int references crm.leads)")
    engine.dispose()
    with scratch_pg_role(pg_db, "nl2sql_nousage_", ["grant select on all tables in schema crm to {role}"]) as url:
        monkeypatch.setenv("NL2SQL_TEST_SCOPED_URL", url)
        from nl2sql_pipeline.core.errors import ConfigError

        with pytest.raises(ConfigError, match="no USAGE privilege on its schema.*GRANT USAGE on the schema"):
            read_schema(DatabaseConfig(name="crm", url_env="NL2SQL_TEST_SCOPED_URL", schema="crm"))
