"""Shared pieces of question rendering: labels in the context of a query, values, plurals."""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Item, Query, YearOf

_ID_SUFFIX = re.compile(r"(\s*(编号|id|ID|号|code|no))$", re.IGNORECASE)


def col_label(col: Col, q: Query, views: dict, language: str) -> str:
    """A column's label, qualified by its table when the query joins and it is not the base table."""
    c = col.column
    if not q.joins or (col.alias in (None, q.alias) and c.table == q.table):
        return c.label
    table_label = views[c.table].label if c.table in views else c.table
    if c.table == q.table:  # self join: name the other row by the linking column ("manager")
        link = next((j.step.pairs[0][0] for j in q.joins if j.right_alias == col.alias), "")
        link_col = next((x for x in views[c.table].columns if x.name == link), None)
        table_label = _ID_SUFFIX.sub("", link_col.label) if link_col else table_label
    if c.label.startswith(table_label):
        return c.label
    if language == "zh":  # 商品类别 + 类别名称 -> 商品类别名称; otherwise 支付记录的支付编号
        overlap = next((k for k in range(min(len(table_label), len(c.label)), 0, -1) if table_label.endswith(c.label[:k])), 0)
        return table_label + c.label[overlap:] if overlap else f"{table_label}的{c.label}"
    return f"{table_label} {c.label}"


def is_temporal(it: Item) -> bool:
    return isinstance(it, Col) and it.column.temporal


def item_column(it: Item) -> Col | None:
    if isinstance(it, Col):
        return it
    if isinstance(it, YearOf):
        return it.arg
    return it.arg if isinstance(it, Agg) else None


def value_text(value: Any, language: str) -> str:
    if isinstance(value, bool):
        return ("是" if value else "否") if language == "zh" else ("true" if value else "false")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return f"“{value}”" if language == "zh" else f'"{value}"'
    return str(value)


def like_text(pattern: str) -> tuple[str, str]:
    """('starts'|'contains', the word) for a LIKE pattern made by the grammar."""
    word = pattern.strip("%")
    return ("contains" if pattern.startswith("%") else "starts"), word


def plural(label: str) -> str:
    """English plural for ASCII words; other languages' labels stay as they are."""
    if not label.isascii() or not label or label.endswith("s"):
        return label
    if re.search(r"[^aeiou]y$", label):
        return label[:-1] + "ies"
    if re.search(r"(x|ch|sh)$", label):
        return label + "es"
    return label + "s"


class Writer:
    """Base of the question writers: the topic's tables and the seeded choice of phrasing."""

    def __init__(self, views: dict, rng: random.Random) -> None:
        self.views, self.rng = views, rng
        self.english_names = all(v.label.isascii() and all(c.label.isascii() for c in v.columns) for v in views.values())

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)
