"""Steps 1-3 against SQLite, PostgreSQL and MariaDB: sales_cn loaded into both servers with real
COMMENTs gives the same logical metadata as the SQLite demo with its descriptions file."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import engine_for, probe
from nl2sql_pipeline.core.errors import DatabaseConnectionError
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata, extract_metadata
from nl2sql_pipeline.demo import load_demo
from nl2sql_pipeline_tests.servers import scratch_pg_role

# MySQL has no boolean column type (BOOL is TINYINT(1)); everything else must agree exactly.
SAME_FAMILY = {"boolean": "integer"}


def _logical(meta: SchemaMetadata) -> dict:
    return {
        t.name: {
            "comment": t.comment,
            "columns": [(c.name, SAME_FAMILY.get(c.type, c.type), c.nullable, c.primary_key, c.comment) for c in t.columns],
            "pk": t.primary_key,
            "fks": sorted((tuple(fk.columns), fk.ref_table, tuple(fk.ref_columns)) for fk in t.foreign_keys),
        }
        for t in meta.tables
    }


@pytest.fixture(scope="module")
def sqlite_meta(demo_dir) -> SchemaMetadata:
    return read_schema(DatabaseConfig(name="sales_cn", demo="sales_cn"))


def _server_meta(url: str, monkeypatch: pytest.MonkeyPatch, backend: str) -> SchemaMetadata:
    engine = sa.create_engine(url)
    load_demo(engine, "sales_cn")
    engine.dispose()
    monkeypatch.setenv("NL2SQL_TEST_URL", url)
    db = DatabaseConfig(name=f"sales_cn_{backend}", url_env="NL2SQL_TEST_URL")
    report = probe(db)
    assert report.backend == backend and report.table_count == 10
    assert report.latency_ms > 0
    meta = read_schema(db)
    assert meta.notes == []
    # servers report catalog estimates; they are there and flagged as such
    assert all(t.row_count is not None and t.row_count_estimated for t in meta.tables)
    return meta


def test_postgres_matches_sqlite(pg_db: str, sqlite_meta: SchemaMetadata, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = _server_meta(pg_db, monkeypatch, "postgresql")
    assert meta.dialect == "postgres"
    assert _logical(meta) == _logical(sqlite_meta)
    assert all(c.comment for t in meta.tables for c in t.columns)  # real COMMENTs from the catalog


def test_mariadb_matches_sqlite(mysql_db: str, sqlite_meta: SchemaMetadata, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = _server_meta(mysql_db, monkeypatch, "mysql")
    assert meta.dialect == "mysql"
    assert _logical(meta) == _logical(sqlite_meta)
    cards = build_cards(meta)
    assert "订单明细" in cards.card("order_items").text


def test_failed_concurrent_reflection_surfaces_and_frees_connections(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 2 reflects keys and foreign keys on their own connections: when one of those calls
    fails, its error is what the caller sees, and no connection stays checked out."""
    engine = sa.create_engine(pg_db)
    load_demo(engine, "concert_singer")
    engine.dispose()
    monkeypatch.setenv("NL2SQL_TEST_URL", pg_db)
    db = DatabaseConfig(name="cs_pg", url_env="NL2SQL_TEST_URL")
    meta = extract_metadata(engine_for(db), db, "postgres")
    assert {t.name for t in meta.tables} == {"stadium", "singer", "concert", "singer_in_concert"}
    assert meta.table("concert").foreign_keys[0].ref_table == "stadium"

    def refuse(*args, **kwargs):
        raise PermissionError("permission denied for pg_constraint")

    monkeypatch.setattr(sa.engine.reflection.Inspector, "get_multi_foreign_keys", refuse)
    with pytest.raises(PermissionError, match="pg_constraint"):
        extract_metadata(engine_for(db), db, "postgres")
    assert engine_for(db).pool.checkedout() == 0


@contextmanager
def _select_only_role(pg_db: str, prefix: str, options: str = "") -> Iterator[str]:
    """The URL of a login role that may only SELECT the concert_singer tables; dropped after."""
    engine = sa.create_engine(pg_db)
    load_demo(engine, "concert_singer")
    engine.dispose()
    with scratch_pg_role(pg_db, prefix, ["grant select on all tables in schema public to {role}"], options) as url:
        yield url


def test_connection_capped_role_gets_a_clear_error(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _select_only_role(pg_db, "nl2sql_capped_", "connection limit 1") as url:
        monkeypatch.setenv("NL2SQL_TEST_URL", url)
        with pytest.raises(DatabaseConnectionError, match="connection limit reached") as err:
            read_schema(DatabaseConfig(name="capped", url_env="NL2SQL_TEST_URL"))
        assert "at least 3 connections" in str(err.value)


def test_probe_reports_read_only_sqlite(demo_dir) -> None:
    report = probe(DatabaseConfig(name="cs", demo="concert_singer"))
    assert report.read_only and report.table_count == 4 and report.dialect == "sqlite"
    assert report.server_version.startswith("SQLite")


def test_postgres_select_only_role_is_reported_read_only(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with _select_only_role(pg_db, "nl2sql_reader_") as url:
        monkeypatch.setenv("NL2SQL_TEST_URL", url)
        assert probe(DatabaseConfig(name="ro", url_env="NL2SQL_TEST_URL")).read_only
