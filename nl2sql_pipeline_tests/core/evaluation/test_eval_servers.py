"""Execution match on the real PostgreSQL and MariaDB servers: semantics, typed failures and a
query that never ends, stopped by the server-side timeout."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionItem, PredictionRuns, PredictionSet

GOLD = "SELECT name, city FROM singer ORDER BY age DESC"
NEVER_ENDS = {
    "postgresql": "SELECT count(*) FROM generate_series(1, 10000000000) a",
    # MariaDB caps recursive CTEs (max_recursive_iterations), so a cross join of ~10^10 rows instead
    # (of the test's own table: system catalogs are outside the configured schema)
    "mysql": "SELECT count(*) FROM " + ", ".join(f"singer s{i}" for i in range(22)),
}
# prediction -> (match under test-suite, pred_error)
CASES = {
    GOLD: (True, None),
    "SELECT city, name FROM singer ORDER BY age DESC": (True, None),  # columns permuted
    "SELECT name, city FROM singer ORDER BY age": (False, None),  # order matters: gold orders
    "SELECT name, city FROM singer WHERE age > 30 ORDER BY age DESC": (False, None),  # literal
    "SELECT name, nope FROM singer": (False, "runtime"),
    "DELETE FROM singer": (False, "unsafe"),  # a write is never run
}


def _evaluate(url: str, dialect: str) -> list:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE singer (id INT PRIMARY KEY, name VARCHAR(40), city VARCHAR(40), age INT)")
        conn.exec_driver_sql("INSERT INTO singer VALUES (1, 'Ann', 'Köln', 31), (2, 'Bo', '北京', 45), (3, 'Cy', 'Köln', 28)")
    engine.dispose()
    backend = sa.engine.make_url(url).get_backend_name()
    outputs = [*CASES, NEVER_ENDS[backend]]
    items = [PredictionItem(index=i, database="db", question="", gold_sql=GOLD, output=o) for i, o in enumerate(outputs)]
    runs = PredictionRuns(runs=[PredictionSet(label="x", model="m", source="test", items=items)])
    started = time.perf_counter()
    verdicts = evaluate_runs(runs, {"db": DatabaseTarget(url=url, dialect=dialect)}, EvalOptions(timeout_s=1.0, workers=1))["x"]
    assert time.perf_counter() - started < 30  # bounded by the 1 s timeout, not by the endless query
    return verdicts


@pytest.mark.parametrize(("db_fixture", "dialect"), [("pg_db", "postgres"), ("mysql_db", "mysql")])
def test_semantics_and_timeouts_on_servers(db_fixture: str, dialect: str, request: pytest.FixtureRequest) -> None:
    verdicts = _evaluate(request.getfixturevalue(db_fixture), dialect)
    expected = [*CASES.values(), (False, "timeout")]
    assert [(v.match, v.pred_error) for v in verdicts] == expected
    assert all(v.executable for v in verdicts)
