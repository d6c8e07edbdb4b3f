"""SQLite's authorizer as the gate (`ReadOnlyExecutor(..., engine_gate=True)`): the hostile corpora
change and leak nothing, deadlines hold, and on real queries it runs exactly what the sqlglot
gate runs."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.inputs import read_gold, spider_db_path
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline_tests.conftest import DATA
from nl2sql_pipeline_tests.core.execution.test_execution import (
    ENDLESS,
    SLOW_BUILTINS,
    _budget_for,
    _check_url,
    hostile_cases,
    sqlite_copy,  # noqa: F401 - the fixture
)
from nl2sql_pipeline_tests.guarantee_support import EXCLUDE, checksum, class_cases, files_in, sqlite_env

SPIDER = DATA / "spider_de"
_COMMENT = re.compile(r"/\*.*?(\*/|$)|--[^\n]*", re.S)


@pytest.fixture
def sales(sqlite_copy: Path) -> str:
    return sqlite_url(sqlite_copy, read_only=True).render_as_string()


def _ran_only_a_plain_query(sql: str, rows: list, parse_gated: ReadOnlyExecutor) -> bool:
    """What the engine gate ran is what the same text, its SQLite comments and whitespace made
    plain spaces, gives through the sqlglot gate (which refuses comments that other engines
    execute and control characters they read differently)."""
    plain = parse_gated.execute(re.sub(r"[\t\n\f\r]", " ", _COMMENT.sub(" ", sql)))
    return plain.ok and plain.rows == rows


def test_hostile_corpus_changes_nothing(sales: str, tmp_path: Path) -> None:
    before = checksum(_check_url(sales))
    files_before = sorted(p.name for p in tmp_path.rglob("*"))
    with ReadOnlyExecutor(sales, "sqlite", timeout_s=2, engine_gate=True) as gated, ReadOnlyExecutor(sales, "sqlite") as parse:
        refused = 0
        for sql in hostile_cases(tmp_path):
            result = gated.execute(sql)
            if result.ok:
                assert _ran_only_a_plain_query(sql, result.rows, parse), sql
                continue
            refused += 1
            assert result.error_kind in ("rejected", "syntax"), f"{sql!r} -> {result.error_kind}: {result.error}"
            assert result.error and len(result.error) > 10
        assert refused >= 135
        assert gated.execute("SELECT count(*) FROM orders").rows == [(800,)]
    assert checksum(_check_url(sales)) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == files_before


def test_class_corpus_leaks_and_changes_nothing(tmp_path: Path) -> None:
    with sqlite_env(tmp_path) as env:
        before = checksum(env.admin_url)
        with ReadOnlyExecutor(env.url, "sqlite", timeout_s=3, exclude=EXCLUDE, engine_gate=True) as gated, \
                ReadOnlyExecutor(env.url, "sqlite", timeout_s=3, exclude=EXCLUDE) as parse:
            for sql, _engines in class_cases(env.values()):
                result = gated.execute(sql)
                assert env.secret not in repr(result), f"leaked the secret: {sql!r} -> {result}"
                if result.ok:
                    assert _ran_only_a_plain_query(sql, result.rows, parse), sql
        assert checksum(env.admin_url) == before
        assert files_in(env.out_dir) == []


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("DROP VIEW IF EXISTS nowhere", "not DROP"),  # compiles to no action: the first word decides
        ("SELECT 1; DELETE FROM orders", "exactly one statement"),
        ("WITH d AS (SELECT 1) DELETE FROM orders", "not DELETE"),
        ("SELECT * FROM pragma_table_info('orders')", "table-valued"),
        ("SELECT name FROM sqlite_master", "sqlite_master"),
        ("SELECT count(*) FROM sqlite_schema", "sqlite_schema"),
        ("SELECT * FROM temp.sqlite_master", "outside the configured schema"),
        ("SELECT load_extension('x')", "load_extension()"),
        ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer()"),
        ("SELECT sqlite_version()", "sqlite_version()"),
        ("SELECT count(*) FROM invented_table", "invented_table"),
        ("SELECT 1\x00", "NUL"),
        ("VACUUM INTO '/tmp/x.db'", "not VACUUM"),
    ],
)
def test_refusals_name_the_cause(sales: str, sql: str, fragment: str) -> None:
    with ReadOnlyExecutor(sales, "sqlite", engine_gate=True) as gated:
        result = gated.execute(sql)
        assert result.error_kind == "rejected" and fragment in (result.error or ""), result


def test_excluded_tables_stay_out_even_by_row_count(tmp_path: Path) -> None:
    with sqlite_env(tmp_path) as env, ReadOnlyExecutor(env.url, "sqlite", exclude=EXCLUDE, engine_gate=True) as gated:
        secret_table = next(n for n in sa.inspect(sa.create_engine(env.admin_url)).get_table_names() if n.startswith("secret"))
        for sql in (f"SELECT count(*) FROM {secret_table}", f"SELECT 1 FROM main.{secret_table} LIMIT 1",
                    f"WITH c AS (SELECT * FROM {secret_table}) SELECT count(*) FROM c",
                    f"SELECT (SELECT max(rowid) FROM {secret_table})"):
            assert gated.execute(sql).error_kind == "rejected", sql
        # A CTE is no table: its name read without columns (count(*)) is the CTE's.
        assert gated.execute("WITH c AS (SELECT store_id FROM stores) SELECT count(*) FROM c").rows == [(12,)]


@pytest.mark.parametrize("kind", sorted(ENDLESS))
def test_endless_queries_stop_at_their_budget(sales: str, kind: str) -> None:
    with ReadOnlyExecutor(sales, "sqlite", timeout_s=0.5, engine_gate=True) as gated:
        started = time.perf_counter()
        result = gated.execute(ENDLESS[kind])
        assert result.error_kind == "timeout" and time.perf_counter() - started < 0.75, result
        assert gated.execute("SELECT count(*) FROM stores").rows == [(12,)]


def test_a_slow_builtin_runs_watched_and_stops_within_its_budget(sales: str, monkeypatch: pytest.MonkeyPatch) -> None:
    watched: list[str] = []
    run_watched = ReadOnlyExecutor._run_watched
    monkeypatch.setattr(ReadOnlyExecutor, "_run_watched", lambda self, s, text, *a: watched.append(text) or run_watched(self, s, text, *a))
    budget = _budget_for(sales, "sqlite")
    with ReadOnlyExecutor(sales, "sqlite", timeout_s=budget, engine_gate=True) as gated:
        assert gated.execute("SELECT count(*) FROM orders WHERE order_id > 3").ok
        assert watched == []  # linear calls only: the progress handler holds the deadline here
        started = time.perf_counter()
        result = gated.execute(SLOW_BUILTINS["sqlite"])
        elapsed = time.perf_counter() - started
        assert result.error_kind == "timeout" and elapsed < 1.5 * budget, (result, elapsed)
        assert watched == [SLOW_BUILTINS["sqlite"]]
        assert gated.execute("SELECT count(*) FROM stores WHERE store_name LIKE '%'").rows == [(12,)]
        assert len(watched) == 2  # LIKE can backtrack inside one call: watched too


def test_runs_what_the_parse_gate_runs_on_real_queries() -> None:
    """Every spider-de gold query of the test data, and a perturbed copy of each, gives the same
    outcome and rows through either gate."""
    gold = read_gold(SPIDER / "dev_gold.sql")
    rng = random.Random(3)
    checked = 0
    for database in sorted({g.database for g in gold}):
        url = sqlite_url(spider_db_path(SPIDER / "database", database), read_only=True)
        with ReadOnlyExecutor(url, "sqlite", engine_gate=True) as gated, ReadOnlyExecutor(url, "sqlite") as parse:
            for g in (g for g in gold if g.database == database):
                variant = g.gold_sql.replace("=", "!=", 1) if rng.random() < 0.5 else g.gold_sql + " LIMIT 1"
                for sql in (g.gold_sql, variant):
                    a, b = gated.execute(sql), parse.execute(sql)
                    if b.error_kind == "rejected" and "must be quoted" in (b.error or ""):
                        continue  # an unquoted keyword as a name: SQLite reads it, sqlglot cannot
                    assert (a.ok, a.rows) == (b.ok, b.rows), (sql, a.error, b.error)
                    checked += 1
    assert checked >= 1500
