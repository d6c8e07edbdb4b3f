"""After schema drift only the topics touching a changed table are generated again."""

import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.generation import plan_for, samples_for
from nl2sql_pipeline.core.samples import RawSamples, TopicPlan
from nl2sql_pipeline.core.schema.catalog import read_schema

LOG = logging.getLogger(__name__)


def _no_llm():
    pytest.fail("an offline database asked for an LLM client")


def _generate(db: DatabaseConfig, path: Path, previous: RawSamples | None) -> tuple[RawSamples, TopicPlan, list[str]]:
    """raw_samples' core call over the database as it is now, and the purposes it opened the
    database for (none when every topic is reused)."""
    meta = read_schema(db)
    cards = build_cards(meta)
    plan = plan_for(db, cards, _no_llm, LOG)
    opened: list[str] = []
    with ReadOnlyExecutor(sqlite_url(path, read_only=True), "sqlite") as executor:
        def executor_for(purpose: str) -> ReadOnlyExecutor:
            opened.append(purpose)
            return executor

        raw = samples_for(db, meta, cards, plan, version="v1", client=_no_llm, executor=executor_for,
                          progress=LOG, previous=previous)
    return raw, plan, opened


def _reused_note(raw: RawSamples) -> str | None:
    return next((n for n in raw.notes if n.startswith("reused ")), None)


def test_only_topics_of_changed_tables_are_regenerated(tmp_path: Path, demo_dir: Path) -> None:
    path = tmp_path / "sales.sqlite"
    shutil.copy(demo_dir / "sales_cn.sqlite", path)
    db = DatabaseConfig(name="sales", url=f"sqlite:///{path}", sample_budget=120)

    first, plan, opened = _generate(db, path, None)
    assert len(plan.topics) > 2 and opened == ["synthesis"]
    assert _reused_note(first) is None  # nothing to reuse the first time
    assert {s.topic for s in first.samples} == {t.name for t in plan.topics}
    again, _, opened = _generate(db, path, first)
    assert opened == [] and again.samples == first.samples  # unchanged schema: all reused, nothing generated
    assert again.topic_signatures == first.topic_signatures

    with sqlite3.connect(path) as conn:
        conn.execute("alter table suppliers add column region text")
    third, plan, opened = _generate(db, path, first)
    changed = {name for name, sig in third.topic_signatures.items() if first.topic_signatures.get(name) != sig}
    assert opened == ["synthesis"] and changed == {t.name for t in plan.topics if "suppliers" in t.tables}
    untouched = [t.name for t in plan.topics if "suppliers" not in t.tables]
    assert untouched
    assert _reused_note(third) == (f"reused {sum(s.topic in untouched for s in first.samples)} samples of "
                                   f"{len(untouched)} unchanged topics: {', '.join(untouched)}")
    assert [s for s in third.samples if s.topic in untouched] == [s for s in first.samples if s.topic in untouched]
