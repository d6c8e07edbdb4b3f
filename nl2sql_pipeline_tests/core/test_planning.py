"""Step 4 offline: topics along the FK graph, budgets that add up, and plan repair for any planner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.cards import TableCards, build_cards
from nl2sql_pipeline.core.config import DatabaseConfig, PlanningConfig
from nl2sql_pipeline.core.planning import fk_graph, plan_topics, validate_plan
from nl2sql_pipeline.core.samples import Topic, TopicPlan
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.demo import DESCRIPTIONS
from nl2sql_pipeline_tests.conftest import SPIDER_DE

CFG = PlanningConfig()


def demo_cards(demo_dir: Path, name: str) -> TableCards:
    db = DatabaseConfig(name=name, url=f"sqlite:///{demo_dir / f'{name}.sqlite'}", descriptions=DESCRIPTIONS.get(name))
    return build_cards(read_schema(db))


def spider_cards(name: str) -> TableCards:
    path = next((SPIDER_DE / "database" / name).glob("*.sqlite"))
    return build_cards(read_schema(DatabaseConfig(name=name, url=f"sqlite:///{path}")))


def connected(tables: list[str], graph: dict[str, set[str]]) -> bool:
    seen, todo = {tables[0]}, [tables[0]]
    while todo:
        for nb in graph[todo.pop()] & set(tables) - seen:
            seen.add(nb)
            todo.append(nb)
    return seen == set(tables)


def test_sales_cn_topics_follow_foreign_keys_and_split_the_budget(demo_dir: Path) -> None:
    cards = demo_cards(demo_dir, "sales_cn")
    plan = plan_topics(cards, 300, CFG)
    graph = fk_graph(cards)
    assert sum(t.count for t in plan.topics) == 300
    assert {t for topic in plan.topics for t in topic.tables} == {c.table for c in cards.cards}
    for topic in plan.topics:
        assert CFG.min_tables <= len(topic.tables) <= CFG.max_tables
        assert connected(topic.tables, graph), topic
        assert topic.count >= CFG.min_per_topic
        assert re.search(r"[\u4e00-\u9fff]", topic.name), "Chinese comments give Chinese topic names"
    assert plan.source == "offline" and plan.dialect == "sqlite"


def test_richer_topics_get_more_samples(demo_dir: Path) -> None:
    cards = demo_cards(demo_dir, "sales_cn")
    plan = plan_topics(cards, 1000, PlanningConfig(min_tables=1, max_tables=1, min_per_topic=1))
    counts = {t.tables[0]: t.count for t in plan.topics}
    assert counts["orders"] > counts["categories"]  # 8 columns and 4 links vs 3 columns and 1


def test_english_names_without_chinese_comments(demo_dir: Path) -> None:
    plan = plan_topics(demo_cards(demo_dir, "concert_singer"), 50, CFG)
    assert all(t.name.isascii() for t in plan.topics)


def test_validate_plan_repairs_an_llm_style_plan(demo_dir: Path) -> None:
    cards = demo_cards(demo_dir, "sales_cn")
    draft = TopicPlan(database="sales_cn", dialect="sqlite", total=100, source="llm", topics=[
        Topic(name="订单", tables=["ORDERS", "`customers`", "ghost_table", "orders"], count=70),
        Topic(name="订单重复", tables=["customers", "orders"], count=10),
        Topic(name="太大", tables=["orders", "order_items", "products", "stores", "employees", "payments"], count=30),
        Topic(name="幽灵", tables=["nothing_here"], count=50),
    ])
    plan = validate_plan(draft, cards, CFG, total=100)
    notes = "\n".join(plan.notes)
    assert "unknown table 'ghost_table' dropped" in notes
    assert "'幽灵': no known table left" in notes
    assert "same tables as an earlier topic" in notes
    assert sum(t.count for t in plan.topics) == 100
    first = plan.topics[0]
    assert first.tables == ["orders", "customers"]  # case-insensitive, quotes stripped, repeats removed
    assert all(len(t.tables) <= CFG.max_tables for t in plan.topics)
    assert {t for topic in plan.topics for t in topic.tables} == {c.table for c in cards.cards}
    assert "was in no topic" in notes
    assert first.count > plan.topics[1].count  # the LLM's weights survive rescaling


@pytest.mark.parametrize("total", [1, 4, 7, 12, 16])
def test_small_budgets_trim_topics_and_still_add_up(demo_dir: Path, total: int) -> None:
    cards = demo_cards(demo_dir, "sales_cn")
    plan = validate_plan(plan_topics(cards, 300, CFG), cards, CFG, total)
    assert sum(t.count for t in plan.topics) == total
    assert len(plan.topics) == max(1, min(3, total // CFG.min_per_topic))


def test_a_zero_budget_plans_nothing(demo_dir: Path) -> None:
    assert plan_topics(demo_cards(demo_dir, "sales_cn"), 0, CFG).topics == []


def test_fewer_tables_than_min_tables(tmp_path: Path) -> None:
    path = tmp_path / "one.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("create table notes (id integer primary key, body text)")
    engine.dispose()
    cards = build_cards(read_schema(DatabaseConfig(name="one", url=f"sqlite:///{path}")))
    plan = plan_topics(cards, 20, PlanningConfig(min_tables=3, max_tables=4, min_per_topic=5))
    assert [t.tables for t in plan.topics] == [["notes"]]
    assert plan.topics[0].count == 20


def test_isolated_tables_get_their_own_topic() -> None:
    cards = spider_cards("flight_2")  # fluggesellschaften has no foreign key
    plan = plan_topics(cards, 200, CFG)
    alone = [t for t in plan.topics if t.tables == ["fluggesellschaften"]]
    assert alone and "isolated" in alone[0].reason


@pytest.mark.parametrize("name", sorted(p.name for p in (SPIDER_DE / "database").iterdir()))
def test_every_spider_de_table_is_planned(name: str) -> None:
    cards = spider_cards(name)
    plan = plan_topics(cards, 200, CFG)
    assert sum(t.count for t in plan.topics) == 200
    assert {t for topic in plan.topics for t in topic.tables} == {c.table for c in cards.cards}
    assert len({t.name for t in plan.topics}) == len(plan.topics)
