"""Data-driven tests of answer parsing and LLM plan repair: each recorded answer in
data/llm/ is a case in cases.json (adding a case is adding a file and a line)."""

from __future__ import annotations

import json

import pytest

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import PlanningConfig, parse_databases
from nl2sql_pipeline.core.llm.parse import first_int, parse_items, pick, strip_thinking
from nl2sql_pipeline.core.llm.planner import compressed_view, plan_schema, topics_from_answer
from nl2sql_pipeline.core.planning import validate_plan
from nl2sql_pipeline.core.samples import TopicPlan
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests import conftest

DATA = conftest.DATA / "llm"
CASES = json.loads((DATA / "cases.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES["samples"], ids=lambda c: c["file"])
def test_recorded_answers_parse(case: dict) -> None:
    parsed = parse_items((DATA / case["file"]).read_text(encoding="utf-8"))
    assert len(parsed.items) == case["items"]
    assert parsed.method == case["method"]
    assert parsed.salvaged == case["salvaged"]
    if case["first"]:
        assert parsed.items[0]["question"] == case["first"]
        assert all(isinstance(i.get("sql"), str) and i["sql"].upper().startswith("SELECT") for i in parsed.items)


def test_multiline_sql_inside_strings_survives() -> None:
    parsed = parse_items((DATA / "multiline_objects.txt").read_text(encoding="utf-8"))
    assert "\nJOIN products" in parsed.items[1]["sql"]


@pytest.mark.parametrize("text", ["", "   ", "no json here at all", "[1, 2, 3]", "{broken", "```\n```"])
def test_answers_without_objects_give_nothing(text: str) -> None:
    assert parse_items(text).items == []


def test_truncation_keeps_every_complete_item_and_no_partial_one() -> None:
    full = json.dumps([{"question": f"q{i}", "sql": f"SELECT {i}"} for i in range(6)])
    for cut in range(len(full)):
        items = parse_items(full[:cut]).items
        assert all(set(i) == {"question", "sql"} for i in items)
        assert [i["question"] for i in items] == [f"q{i}" for i in range(len(items))]
    assert len(parse_items(full).items) == 6


def test_think_blocks_and_helpers() -> None:
    assert strip_thinking("<think>{\"a\": 1}</think>x") == "x"
    assert strip_thinking("<think>never closed [{}]") == ""
    assert [first_int(v) for v in (20, "20", "20个", 20.7, None, "many", True)] == [20, 20, 20, 20, None, None, None]
    assert pick({"Question": "a", "SQL": "b"}, "question") == "a"
    assert pick({"问题": "a"}, "question", "问题") == "a"


def demo_cards(name: str):
    db = parse_databases({"databases": [{"name": name, "demo": name}]}).databases[0]
    return build_cards(read_schema(db))


@pytest.fixture(scope="module")
def sales_cards():
    return demo_cards("sales_cn")


@pytest.mark.parametrize("case", CASES["plans"], ids=lambda c: c["file"])
def test_recorded_plans_validate(case: dict, sales_cards) -> None:
    cards = sales_cards if case.get("database", "sales_cn") == "sales_cn" else demo_cards(case["database"])
    topics = topics_from_answer((DATA / case["file"]).read_text(encoding="utf-8"), "sqlite")
    assert len(topics) == case["parsed"]
    raw = TopicPlan(database=cards.database, dialect="sqlite", total=case["total"], topics=topics, source="llm")
    plan = validate_plan(raw, cards, PlanningConfig(), case["total"])
    known = {c.table for c in cards.cards}
    assert sum(t.count for t in plan.topics) == case["total"]
    assert all(t.count >= 1 and set(t.tables) <= known and t.tables for t in plan.topics)
    assert len({frozenset(t.tables) for t in plan.topics}) == len(plan.topics)
    for table in case["dropped"]:
        assert any(table in n and "unknown table" in n for n in plan.notes)
    assert any("rescaled" in n for n in plan.notes) == case["rescaled"]
    if case["total"] >= len(known) * PlanningConfig().min_per_topic:
        assert {t for topic in plan.topics for t in topic.tables} == known


def test_table_lists_as_strings_are_split_and_duplicates_merged(sales_cards) -> None:
    topics = topics_from_answer((DATA / "plan_table_string.txt").read_text(encoding="utf-8"), "sqlite")
    assert topics[0].tables == ["orders", "order_items"]
    plan = validate_plan(TopicPlan(database="sales_cn", dialect="sqlite", total=30, topics=topics),
                         sales_cards, PlanningConfig(), 30)
    assert any("same tables as an earlier topic" in n for n in plan.notes)


def test_plan_schema_constrains_tables_to_real_names(sales_cards) -> None:
    names = [c.table for c in sales_cards.cards]
    schema = plan_schema(names, 4, "sqlite")
    topic = schema["properties"]["topics"]["items"]
    assert topic["properties"]["tables"]["items"]["enum"] == names
    assert topic["properties"]["tables"]["maxItems"] == 4
    assert topic["properties"]["dialect"]["enum"] == ["sqlite"]
    assert set(topic["required"]) == set(topic["properties"])  # strict mode needs every key required


def test_compressed_view_keeps_names_comments_and_links(sales_cards) -> None:
    view = compressed_view(sales_cards)
    assert "- orders: 订单" in view and "orders - payments" in view
    assert len(view) < len(sales_cards.render()) / 3
