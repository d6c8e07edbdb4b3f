"""One lexer truth, tested on the engines themselves: every pair of tricky fragments (comment
starts, quotes, escapes, whitespace classes, identifier quoting, executable comments) between
three string columns is either refused by the gate, or the engine returns exactly the columns
and values sqlglot read (so no code can hide in a place the two lexers see differently)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlglot import exp

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.execution import ReadOnlyExecutor, parse_query
from nl2sql_pipeline.core.execution.lexer import lexing_problem
from nl2sql_pipeline.demo import load_demo

FRAGMENTS = [
    "", " ", "--", "-- ", "--\u00a0", "--x", "--\t", "#", "# ", "/* c */", "/*", "*/", "/* /* */", "\u00a0", "\u3000",
    "\u2003", "\u0085", "\u2028", "\r", "\n", "\t", "\v", "\f", "'", "''", "\\", "\\'", '"', "`", "$$", "$a$", "x$$",
    "E'", "e'", "U&'", 'U&"', "N'", "X'", "_utf8mb4'", "/*!", "/*M!", "/*+", "[", "]", ";", "\uff1b", "\x00",
]


def probes() -> Iterator[str]:
    for first, second in itertools.product(FRAGMENTS, repeat=2):
        yield f"SELECT 'm0' AS c0{first}, 'm1' AS c1{second}, 'm2' AS c2"


def _expected(tree: exp.Expression) -> tuple | None:
    """The row sqlglot's reading predicts when every column is a string literal, else None."""
    if not isinstance(tree, exp.Select):
        return None
    values = []
    for projection in tree.expressions:
        node = projection.this if isinstance(projection, exp.Alias) else projection
        if not (isinstance(node, exp.Literal) and node.is_string):
            return None
        values.append(node.this)
    return tuple(values)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        path = tmp_path / "s.sqlite"
        engine = sa.create_engine(f"sqlite:///{path}")
        load_demo(engine, "sales_cn")
        engine.dispose()
        yield sqlite_url(path, read_only=True).render_as_string(hide_password=False), "sqlite"
    else:
        yield request.getfixturevalue("pg_db" if request.param == "postgres" else "mysql_db"), request.param


def test_the_gate_and_the_engine_read_every_probe_alike(target: tuple[str, str]) -> None:
    url, dialect = target
    accepted = disagreements = 0
    with ReadOnlyExecutor(url, dialect, timeout_s=5) as executor:
        for sql in probes():
            tree, verdict = parse_query(sql, dialect)
            if tree is None:
                continue
            accepted += 1
            result = executor.execute(sql)
            if not result.ok:
                continue  # the engine refused what sqlglot accepted: nothing ran
            want = _expected(tree)
            got = result.rows[0] if result.rows else None
            if len(result.columns) != len(tree.expressions) or (want is not None and got != want):
                disagreements += 1
                print(f"{dialect}: {sql!r}: sqlglot {want} / {len(tree.expressions)} columns, engine {got}")
    assert accepted > 200  # the probes are not all refused: the comparison means something
    assert disagreements == 0


@pytest.mark.parametrize(
    ("dialect", "sql", "fragment"),
    [
        ("postgres", 'SELECT U&"d\\0061t\\+000061" FROM t', "Unicode-escaped"),
        ("postgres", "SELECT 'a' UESCAPE '!'", "UESCAPE"),
        ("postgres", "SELECT 1 /* a /* b */ c */", "inside a /*"),
        ("postgres", "SELECT a$b FROM t", "$ inside a name"),
        ("postgres", "SELECT $1", "parameters"),
        ("mysql", "SELECT 1 --\u3000, LOAD_FILE('/etc/passwd')", "non-ASCII character (U+3000"),
        ("mysql", "SELECT 1 --1", "`--` not followed by a space"),
        ("mysql", "SELECT 1 /*!50000 , 2 */", "executable"),
        ("sqlite", "SELECT 1 /*+ hint */", "executable"),
        ("sqlite", "SELECT\u00a01", "U+00A0"),
        ("sqlite", "SELECT 1\v", "control character"),
        ("sqlite", "SELECT 'a\x00'", "NUL"),
        ("mysql", "SELECT 'abc", "unterminated string"),
    ],
)
def test_lexer_rules_name_the_construct(dialect: str, sql: str, fragment: str) -> None:
    import sqlglot

    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except Exception:
        tokens = []
    problem = lexing_problem(sql, dialect, tokens)
    assert problem and fragment in problem, problem


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT E'it\\'s' AS a, 'back\\slash' AS b, $$x'y$$ AS c, $q$a$q$ AS d -- note"),
        ("postgres", 'SELECT "Straße" AS "列", N\'x\', X\'1F\', B\'01\' /* 中文注释：单位元 */'),
        ("mysql", "SELECT 'it\\'s', \"dq\", `back``tick`, X'41', _utf8mb4'x' # comment\n"),
        ("mysql", "SELECT 1 -- comment\n, 2 /* 注释 */"),
        ("sqlite", "SELECT \"名称\", [a b], `c`, 'it''s', X'41' -- 单位：元"),
    ],
)
def test_ordinary_quoting_and_comments_pass(dialect: str, sql: str) -> None:
    import sqlglot

    assert lexing_problem(sql, dialect, sqlglot.tokenize(sql, read=dialect)) is None
