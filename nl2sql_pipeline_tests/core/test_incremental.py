"""After schema drift only the topics touching a changed table are generated again."""

import shutil
import sqlite3
from pathlib import Path

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.incremental import merge, split_plan, topic_signatures
from nl2sql_pipeline.core.planning import plan_topics
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.synthesis import synthesize


def _generate(db: DatabaseConfig, path: Path, previous):
    meta = read_schema(db)
    plan = plan_topics(build_cards(meta), db.sample_budget, db.planning)
    signatures = topic_signatures(plan, meta, "v1")
    todo, reused = split_plan(previous, signatures, plan)
    with ReadOnlyExecutor(sqlite_url(path, read_only=True), "sqlite") as executor:
        generated = synthesize(todo, meta, executor, db)
    kept = [t for t in plan.topics if t not in todo.topics]
    return merge(generated, reused, signatures, kept), todo, plan


def test_only_topics_of_changed_tables_are_regenerated(tmp_path: Path, demo_dir: Path) -> None:
    path = tmp_path / "sales.sqlite"
    shutil.copy(demo_dir / "sales_cn.sqlite", path)
    db = DatabaseConfig(name="sales", url=f"sqlite:///{path}", sample_budget=120)

    first, todo, plan = _generate(db, path, None)
    assert len(todo.topics) == len(plan.topics) > 2  # nothing to reuse the first time
    again, todo, _ = _generate(db, path, first)
    assert todo.topics == [] and again.samples == first.samples  # unchanged schema: all reused

    with sqlite3.connect(path) as conn:
        conn.execute("alter table suppliers add column region text")
    third, todo, plan = _generate(db, path, first)
    assert todo.topics and all("suppliers" in t.tables for t in todo.topics)
    untouched = {t.name for t in plan.topics if "suppliers" not in t.tables}
    assert untouched
    assert [s for s in third.samples if s.topic in untouched] == [s for s in first.samples if s.topic in untouched]
    assert any("reused" in n for n in third.notes)
