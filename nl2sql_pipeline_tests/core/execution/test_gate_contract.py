"""One strict parse contract for the gate, checked once per text and shared.

The gate's tree is sqlglot's reading of the very text the engine runs, never the hardness
module's lenient re-reading; an executor keeps its verdicts per text, so a kept answer must be
the answer, callers of `parse_query` must get a tree of their own, and the shortcuts taken for
speed (no nesting scan for short token streams, no tie probe without a cut) must decide exactly
what the full work would.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import nl2sql_pipeline
from nl2sql_pipeline.core.evaluation import runner, suite
from nl2sql_pipeline.core.execution import ExecutionResult, QueryLimits, ReadOnlyExecutor, parse_query
from nl2sql_pipeline.core.execution.gate import _tools
from nl2sql_pipeline.core.execution.limits import scan_tokens, token_problem
from nl2sql_pipeline.core.hardness import spider_hardness

KEYWORD_NAMED = [
    "SELECT name FROM lehrer ORDER BY alter ASC",
    "SELECT avg(alter) FROM hunde",
    "SELECT alter , heimatort FROM lehrer",
    "SELECT count(*) FROM hunde WHERE alter < (SELECT avg(alter) FROM hunde)",
]


def test_the_gate_path_does_not_load_the_lenient_parser() -> None:
    root = str(Path(nl2sql_pipeline.__file__).resolve().parents[1])  # this checkout, not an installed copy
    code = ("import sys, nl2sql_pipeline.core.execution as e; "
            "print(e.__file__.startswith(sys.argv[1]), 'nl2sql_pipeline.core.hardness' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": root}, cwd=root)
    assert out.stdout.split() == ["True", "False"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
@pytest.mark.parametrize("sql", KEYWORD_NAMED)
def test_a_keyword_named_column_is_refused_until_quoted(sql: str, dialect: str) -> None:
    tree, verdict = parse_query(sql, dialect)
    assert tree is None and verdict.kind == "syntax"
    assert "must be quoted" in (verdict.reason or "")
    quote = "`" if dialect == "mysql" else '"'
    tree, verdict = parse_query(sql.replace("alter", f"{quote}alter{quote}"), dialect)
    assert verdict.kind is None and tree is not None


def test_the_executor_refuses_a_keyword_named_column_before_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "kw.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute('CREATE TABLE lehrer (name TEXT, "alter" INTEGER)')
        conn.execute("INSERT INTO lehrer VALUES ('a', 30)")
    with ReadOnlyExecutor(f"sqlite:///file:{path}?mode=ro&uri=true", "sqlite") as executor:
        refused = executor.execute("SELECT name FROM lehrer ORDER BY alter ASC")
        assert refused.error_kind == "syntax" and "does not parse as sqlite" in (refused.error or "")
        assert executor.execute('SELECT name FROM lehrer ORDER BY "alter" ASC').rows == [("a",)]


HOSTILE = [
    "SELECT 1; DELETE FROM t",
    "SELECT load_extension('/tmp/x')",
    "SELECT * FROM sqlite_master",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    "SELECT " + "(" * 200 + "1" + ")" * 200,
    "SELECT 1 /*! , LOAD_FILE('/etc/passwd') */",
]


def test_a_kept_verdict_is_the_verdict(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    with ReadOnlyExecutor(f"sqlite:///file:{path}?mode=ro&uri=true", "sqlite") as executor:
        for _ in range(3):  # the first call keeps the verdicts, the others answer from them
            for sql in HOSTILE:
                result = executor.execute(sql)
                assert not result.ok and result.error_kind in ("rejected", "syntax"), sql
            assert executor.execute("SELECT a FROM t").rows == [(1,)]
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def _empty_db(tmp_path: Path) -> str:
    path = tmp_path / "t.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def test_parse_query_gives_a_tree_of_ones_own(tmp_path: Path) -> None:
    sql = "SELECT a FROM t WHERE a > 3"
    with ReadOnlyExecutor(_empty_db(tmp_path), "sqlite") as executor:
        shared, verdict = executor.checked(sql)
        assert verdict.kind is None and executor.checked(sql)[0] is shared
        mine = parse_query(sql, "sqlite")[0]
        assert mine is not shared
        mine.set("where", None)  # the validator masks literals in place; the kept tree must not see it
        assert executor.checked(sql)[0].sql() == "SELECT a FROM t WHERE a > 3"


def test_the_executor_leaves_the_shared_tree_as_it_was(tmp_path: Path) -> None:
    sql = "WITH c AS (SELECT a FROM t) SELECT a, count(*) FROM c GROUP BY a ORDER BY 2 DESC LIMIT 5"
    with ReadOnlyExecutor(_empty_db(tmp_path), "sqlite") as executor:
        before = executor.checked(sql)[0].sql()
        assert executor.execute(sql).ok and executor.execute(sql).ok
        assert executor.checked(sql)[0].sql() == before


def test_an_oversized_text_is_refused_without_being_kept(tmp_path: Path) -> None:
    with ReadOnlyExecutor(_empty_db(tmp_path), "sqlite") as executor:
        tree, verdict = executor.checked("SELECT 1" + " " * 30_000 + ", 2")
        assert tree is None and verdict.kind == "rejected" and "max_chars" in (verdict.reason or "")
        assert len(executor._verdicts._known) == 0


def test_an_executors_limits_decide_its_kept_verdicts(tmp_path: Path) -> None:
    sql = "SELECT " + "(" * 10 + "1" + ")" * 10
    url = _empty_db(tmp_path)
    with ReadOnlyExecutor(url, "sqlite") as loose, ReadOnlyExecutor(url, "sqlite", limits=QueryLimits(max_depth=8)) as tight:
        assert loose.check(sql).kind is None and loose.check(sql).kind is None
        assert tight.check(sql).kind == "rejected" and tight.check(sql).kind == "rejected"


def test_short_token_streams_cannot_pass_a_cap() -> None:
    """The shortcut's claim, tried on random streams of the tokens that move the counters: no
    stream as long as every cap can exceed one, and the full scan agrees."""
    limits = QueryLimits(max_depth=6, max_set_operations=6, max_list_items=10)
    pieces = ["(", ")", "[", "]", "NOT", "-", "CASE", "END", "::", ",", "UNION", "1", "x"]
    tokenizer = _tools("postgres")[0]
    rng = random.Random(13)
    checked = 0
    for _ in range(4000):
        tokens = tokenizer.tokenize(" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))))
        if len(tokens) <= 6:
            assert scan_tokens(tokens, limits) is None
            checked += 1
    assert checked > 3000
    deep = tokenizer.tokenize("NOT " * 7 + "1")
    assert token_problem(deep, limits) is not None  # past the shortcut, the scan still refuses


def test_hardness_from_the_gates_tree_matches_the_lenient_label(tmp_path: Path) -> None:
    with ReadOnlyExecutor(_empty_db(tmp_path), "sqlite") as executor:
        for sql in ["SELECT count(*) FROM singer", "SELECT name FROM singer WHERE age > 3 ORDER BY age LIMIT 1",
                    "SELECT a FROM t1 JOIN t2 ON t1.x = t2.x WHERE b = 1 GROUP BY a HAVING count(*) > 2", *KEYWORD_NAMED]:
            assert runner._hardness(executor, sql) == spider_hardness(sql, "sqlite"), sql


def _result(rows: list[tuple]) -> ExecutionResult:
    return ExecutionResult(ok=True, columns=["a"], rows=rows, row_count=len(rows))


def test_no_tie_probe_without_a_cut() -> None:
    calls: list[str] = []

    def run(url: str, dialect: str, sql: str, keep: bool) -> ExecutionResult:
        calls.append(sql)
        return _result([(1, 1), (2, 1), (3, 2), (4, 2)])  # rows 3 and 4 tie on b

    gold_sql = "SELECT a FROM t ORDER BY b LIMIT 3"
    assert suite.gold_flag(run, "u", "sqlite", [], "sqlite", gold_sql, _result([(1,), (2,)]), check_hygiene=True) is None
    assert calls == []  # two rows under LIMIT 3: the whole result, nothing cut off
    flag = suite.gold_flag(run, "u", "sqlite", [], "sqlite", gold_sql, _result([(1,), (2,), (3,)]), check_hygiene=True)
    assert len(calls) == 1 and flag == "tie-dependent"


@pytest.mark.parametrize(
    ("sql", "linear"),
    [
        ("SELECT count(*), max(a), round(avg(b), 2) FROM t GROUP BY c ORDER BY 2 DESC LIMIT 3", True),
        ("SELECT CAST(a AS int), coalesce(b, 0), substr(c, 1, 2), lower(d) || upper(e) FROM t", True),
        ("SELECT a FROM t WHERE b IN (SELECT b FROM u) AND EXISTS (SELECT 1 FROM v) AND c BETWEEN 1 AND (2)", True),
        ("SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t", True),
        ("WITH x AS (SELECT a FROM t) SELECT count(*) FROM x LEFT JOIN (SELECT a FROM u) y ON x.a = y.a", True),
        ("SELECT a FROM t WHERE b LIKE '%x%'", False),
        ("SELECT a FROM t WHERE b GLOB '*x*'", False),
        ("SELECT instr(a, 'x') FROM t", False),
        ('SELECT "instr"(a, \'x\') FROM t', False),
        ("SELECT replace(a, 'x', 'y') FROM t", False),
        ("SELECT trim(a, 'xy') FROM t", False),
        ("SELECT printf('%.*c', 1000000, 'a')", False),
        ("SELECT median(a) FROM t", False),
        ("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r", False),
        ("WITH c(x) AS (SELECT 1) SELECT x FROM c", False),  # a name before `(`: counted as a call
    ],
)
def test_linear_calls_decide_who_holds_the_sqlite_deadline(sql: str, linear: bool) -> None:
    """Only queries whose every call costs time linear in its arguments run without a watchdog
    thread (SQLite's progress handler cannot interrupt one long call); anything unclear is watched."""
    tree, verdict = parse_query(sql, "sqlite")
    assert tree is not None and verdict.linear_calls is linear
    assert parse_query(sql, "postgres")[1].linear_calls is False  # only SQLite's handler is relied on
