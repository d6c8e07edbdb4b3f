"""Step 3 cards and the embedded demo databases."""

import sqlite3
from pathlib import Path

import pytest
import sqlglot

from nl2sql_pipeline.core.cards import build_cards, estimate_tokens, render_ddl
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.demo import ensure_demo_database


@pytest.fixture(scope="module")
def sales_meta(demo_dir):
    return read_schema(DatabaseConfig(name="sales_cn", demo="sales_cn"))


def test_sales_cn_is_rich_and_commented(sales_meta) -> None:
    assert len(sales_meta.tables) >= 8
    assert all(t.comment for t in sales_meta.tables)
    assert all(c.comment for t in sales_meta.tables for c in t.columns)
    composite = [t.name for t in sales_meta.tables if len(t.primary_key) > 1]
    assert set(composite) == {"order_items", "inventory"}
    total_rows = sum(t.row_count for t in sales_meta.tables)
    assert 500 <= total_rows <= 10_000


def test_cards_keep_links_both_ways(sales_meta) -> None:
    cards = build_cards(sales_meta)
    orders = cards.card("orders")
    out = {(l.other_table, tuple(l.columns)) for l in orders.links if l.direction == "out"}
    incoming = {l.other_table for l in orders.links if l.direction == "in"}
    assert ("customers", ("customer_id",)) in out
    assert {"order_items", "payments"} <= incoming
    assert "references customers(customer_id)" in orders.text
    assert "referenced by order_items(order_id)" in orders.text
    assert "订单" in orders.text and orders.tokens == estimate_tokens(orders.text)
    # key markers: the text's and the card's agree, composite keys included
    assert orders.key("order_id") == "PK" and orders.key("customer_id") == "FK" and orders.key("order_date") == ""
    items = cards.card("order_items")
    assert items.key("order_id") == "PK,FK" and " order_id integer PK,FK:" in items.text
    # a card shares the metadata's column models rather than copying them
    assert orders.columns == sales_meta.table("orders").columns
    # the employees self-reference shows in both directions
    emp = cards.card("employees")
    assert {l.direction for l in emp.links if l.other_table == "employees"} == {"in", "out"}


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql", "tsql"])
def test_ddl_is_valid_sql_in_each_dialect(sales_meta, dialect: str) -> None:
    for table in sales_meta.tables:
        ddl = render_ddl(table, dialect)
        parsed = sqlglot.parse_one(ddl, read=dialect)
        assert parsed.find(sqlglot.exp.Create) is not None
        assert [c.name for c in parsed.find_all(sqlglot.exp.ColumnDef)] == [c.name for c in table.columns]
        assert ddl.count("FOREIGN KEY") == len(table.foreign_keys)


def test_fit_respects_the_budget(sales_meta) -> None:
    cards = build_cards(sales_meta)
    names = [c.table for c in cards.cards]
    budget = sum(c.tokens for c in cards.cards[:3])
    assert cards.fit(names, budget) == names[:3]
    assert cards.fit(names, 1) == names[:1]  # at least one table always fits


def test_estimate_tokens_counts_cjk_per_character() -> None:
    assert estimate_tokens("订单明细") == 4
    assert estimate_tokens("abcd" * 10) == 10


def test_demo_builds_are_deterministic(tmp_path: Path) -> None:
    a = ensure_demo_database("sales_cn", tmp_path / "a")
    b = ensure_demo_database("sales_cn", tmp_path / "b")

    def dump(p: Path) -> list:
        with sqlite3.connect(p) as conn:
            return list(conn.iterdump())

    assert dump(a) == dump(b)
    assert ensure_demo_database("sales_cn", tmp_path / "a") == a  # reused, not rebuilt
    assert not list((tmp_path / "a").glob("*.tmp"))
