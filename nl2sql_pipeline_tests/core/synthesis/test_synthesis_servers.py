"""Generated SQL rendered for PostgreSQL and MariaDB runs on the real servers (the sales_cn demo
loaded into a scratch database), passes validation, and mostly returns rows."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import close_executors, executor_for
from nl2sql_pipeline.core.planning import plan_topics
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.synthesis import synthesize
from nl2sql_pipeline.core.validation.validator import validate_samples
from nl2sql_pipeline.demo import load_demo


@pytest.fixture(params=["pg_db", "mysql_db"])
def server_db(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    url = request.getfixturevalue(request.param)
    engine = sa.create_engine(url)
    load_demo(engine, "sales_cn")
    engine.dispose()
    yield DatabaseConfig(name="sales_cn_server", url=url)
    close_executors()  # before the scratch database is dropped


def test_generated_sql_runs_on_the_server(server_db: DatabaseConfig) -> None:
    meta = read_schema(server_db)
    assert meta.dialect in ("postgres", "mysql")
    plan = plan_topics(build_cards(meta), 120, server_db.planning)
    raw = synthesize(plan, meta, executor_for(server_db), server_db)
    assert len(raw) == 120 and raw.dialect == meta.dialect
    assert all(s.language == "zh" for s in raw.samples)  # real COMMENTs in Chinese
    assert not [n for n in raw.notes if "probe failed" in n]  # no candidate failed on the server either
    checked = validate_samples(raw, meta, executor_for(server_db), keep_empty=True)
    failures = Counter(f"{v.failed_layer}: {v.reason}" for v in checked.items if not v.passed)
    assert sum(v.passed for v in checked.items) >= 0.95 * len(raw), failures
    exported = [v for v in checked.items if v.accepted]
    assert sum(not v.empty for v in exported) >= 0.85 * len(exported)
    assert {v.hardness for v in exported} == {"easy", "medium", "hard", "extra"}
    if meta.dialect == "mysql":
        assert any("`" in s.sql for s in raw.samples) or all('"' not in s.sql for s in raw.samples)
