"""Parser stress: inputs that made sqlglot recurse, crash or run quadratically come back as typed
rejections from every path that reads untrusted SQL (gate, executor, validator, evaluation),
and inputs right at the limits parse safely even deep inside a caller's stack."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlglot

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_items
from nl2sql_pipeline.core.execution import DEFAULT_LIMITS, ReadOnlyExecutor, parse_query
from nl2sql_pipeline.core.predictions import PredictionItem
from nl2sql_pipeline.core.samples import Sample
from nl2sql_pipeline.core.schema.metadata import ColumnInfo, SchemaMetadata, TableInfo
from nl2sql_pipeline.core.validation import SchemaIndex, check_sample
from nl2sql_pipeline.core.sql_template import template_and_literals

MB = 1_000_000
STRESS = {
    "parentheses 500": "SELECT " + "(" * 500 + "1" + ")" * 500,
    "parentheses 10,000": "SELECT " + "(" * 10_000 + "1" + ")" * 10_000,
    "subqueries 1,000": "SELECT " + "(SELECT " * 1000 + "1" + ")" * 1000,
    "subqueries 8,000 (144 KB)": "SELECT " + "(SELECT " * 8000 + "1" + ")" * 8000,
    "EXISTS 300": "SELECT 1 WHERE " + "EXISTS (SELECT 1 WHERE " * 300 + "1 = 1" + ")" * 300,
    "NOT 500": "SELECT 1 WHERE " + "NOT " * 500 + "1 = 1",
    "unary minus 3,000": "SELECT " + "- " * 3000 + "1",
    "minus and parentheses 3,000": "SELECT " + "-(" * 3000 + "1" + ")" * 3000,
    "tilde 1,000": "SELECT " + "~" * 1000 + "1",
    "CASE 500": "SELECT " + "CASE WHEN 1 = 1 THEN " * 500 + "1" + " END" * 500,
    "casts 5,000": "SELECT 1" + "::int" * 3000,
    "subscripts 3,000": "SELECT a" + "[1]" * 3000 + " FROM t",
    "ARRAY 300": "SELECT " + "ARRAY[" * 300 + "1" + "]" * 300,
    "string 1 MB": "SELECT '" + "a" * MB + "' AS s",
    "comment 1 MB": "SELECT 1 /* " + "x" * MB + " */",
    "line comment 1 MB": "SELECT 1 -- " + "x" * MB,
    "name 1 MB": "SELECT " + "a" * MB + " FROM t",
    "IN list 100,000": "SELECT 1 WHERE 1 IN (" + ",".join(str(i) for i in range(100_000)) + ")",
    "IN list 2,000": "SELECT 1 WHERE 1 IN (" + ",".join("1" for _ in range(2000)) + ")",
    "UNION 10,000": " UNION ALL ".join(["SELECT 1"] * 10_000),
    "UNION 150": " UNION ALL ".join(["SELECT 1"] * 150),
    "nested comments 40,000": "SELECT 1 " + "/*" * 40_000 + "*/" * 40_000,
    "unterminated string": "SELECT '" + "a" * 5000,
}
AT_LIMIT = {
    "parentheses": "SELECT " + "(" * 60 + "1" + ")" * 60,
    "subqueries": "SELECT " + "(SELECT " * 60 + "1" + ")" * 60,
    "NOT": "SELECT 1 WHERE " + "NOT " * 60 + "1 = 1",
    "CASE": "SELECT " + "CASE WHEN 1 = 1 THEN " * 60 + "1" + " END" * 60,
    "unary minus": "SELECT " + "- " * 60 + "1",
    "mixed": "SELECT " + "(NOT (- (CASE WHEN 1 = 1 THEN " * 9 + "1" + " END) = 1))" * 9,
    "binary chain 9,000": "SELECT " + "+".join(["1"] * 9000),
    "OR chain 900": "SELECT 1 WHERE " + " OR ".join(f"1 = {i}" for i in range(900)),
    "IN list 900": "SELECT 1 WHERE 1 IN (" + ",".join(str(i) for i in range(900)) + ")",
    "UNION 90": " UNION ALL ".join(["SELECT 1"] * 90),
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stress") / "t.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (a INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    engine.dispose()
    return path


def _meta() -> SchemaMetadata:
    col = ColumnInfo(name="a", type="integer", raw_type="INTEGER", nullable=True)
    return SchemaMetadata(database="t", backend="sqlite", dialect="sqlite", tables=[TableInfo(name="t", columns=[col])])


# The list-item cap protects sqlglot's parser; SQLite's own reads such a list safely, so the
# evaluation's engine gate (SQLite's authorizer) runs it as the valid query it is.
WITHIN_SQLITE_LIMITS = {"IN list 2,000"}


@pytest.mark.parametrize("engine_gate", [True, False], ids=["sqlite-authorizer", "sqlglot-gate"])
@pytest.mark.parametrize("kind", sorted(STRESS))
def test_every_path_returns_a_typed_rejection(kind: str, db: Path, engine_gate: bool) -> None:
    sql = STRESS[kind]
    started = time.perf_counter()
    verdicts = {dialect: parse_query(sql, dialect) for dialect in ("sqlite", "postgres", "mysql")}
    assert {d: v for d, (tree, v) in verdicts.items()
            if not (tree is None and v.kind in ("rejected", "syntax") and v.reason)} == {}  # every dialect at once
    with ReadOnlyExecutor(sqlite_url(db, read_only=True), "sqlite", timeout_s=2) as executor:
        result = executor.execute(sql)
        assert not result.ok and result.error_kind in ("rejected", "syntax"), result.error
    sample = Sample(database="t", topic="x", question="q", sql=sql, language="en")
    checked = check_sample(sample, SchemaIndex.of(_meta()), {"t": "t"}, "sqlite", None)
    assert not checked.passed and checked.failed_layer == "syntax" and checked.reason
    item = PredictionItem(index=0, database="t", question="q", gold_sql="SELECT a FROM t", output=sql)
    [verdict] = evaluate_items([("x", item)], {"t": DatabaseTarget(url=f"sqlite:///{db}", dialect="sqlite")},
                               EvalOptions(workers=1, timeout_s=2, engine_gate=engine_gate))
    if engine_gate and kind in WITHIN_SQLITE_LIMITS:
        assert verdict.executed and verdict.pred_error is None, verdict
    else:
        assert not verdict.match and verdict.pred_error in ("rejected", "syntax") and verdict.executable, verdict
    assert time.perf_counter() - started < 30  # generous: only that nothing runs away


def _deep_stack(depth: int, fn, *args):  # noqa: ANN001, ANN202 - a test helper
    return fn(*args) if depth == 0 else _deep_stack(depth - 1, fn, *args)


@pytest.mark.parametrize("kind", sorted(AT_LIMIT))
def test_inputs_within_the_limits_parse_safely_deep_in_a_stack(kind: str) -> None:
    """A Dagster run calls the gate from a few hundred frames deep: the limits leave room."""
    sql = AT_LIMIT[kind]
    assert len(sql) <= DEFAULT_LIMITS.max_chars
    headroom = sys.getrecursionlimit() - 450
    assert headroom > 0
    verdicts = {dialect: _deep_stack(400, parse_query, sql, dialect) for dialect in ("sqlite", "postgres", "mysql")}
    assert {d: v for d, (tree, v) in verdicts.items() if tree is None or v.kind is not None} == {}  # every dialect at once
    templates = {d: _deep_stack(400, template_and_literals, tree, d)[0][:20] for d, (tree, _) in verdicts.items()}
    assert {d: t for d, t in templates.items() if not t.startswith("SELECT")} == {}


def test_template_masking_is_linear() -> None:
    """A 100,000-literal IN list took over 180 s when literals were replaced one by one."""
    tree = sqlglot.parse_one("SELECT 1 FROM t WHERE a IN (" + ",".join(f"'v{i}'" for i in range(100_000)) + ")")
    started = time.perf_counter()
    template, literals = template_and_literals(tree, "sqlite")
    assert len(literals) == 100_001 and template.count("?") == 100_001  # SELECT 1 counts too
    assert time.perf_counter() - started < 20  # quadratic took minutes; linear takes about a second
