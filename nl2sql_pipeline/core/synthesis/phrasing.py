"""Shared pieces of question rendering: labels in the context of a query, values, plurals."""

from __future__ import annotations

import datetime as dt
import decimal
import random
import re
from typing import Any

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Compound, Cond, Item, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.schema import Column

_ID_SUFFIX = re.compile(r"(\s*(编号|编码|代码|id|ID|号|code|no))$", re.IGNORECASE)
STYLES = ("formal", "colloquial", "imperative", "interrogative", "concise")
_ZH_UNIT_GLUED = True  # 5,000元, 13%, 12.5kg: Chinese writes units without a space


def role_label(col: Col, q: Query, views: dict) -> str | None:
    """The role a joined row plays, from the linking column's label: `直属上级` (employees.manager_id),
    `签约人` (sales_contracts.signer_id), `上级部门`; None when the link is the table itself."""
    join = next((j for j in q.joins if j.right_alias == col.alias), None)
    if join is None:
        return None
    left = views.get(join.step.left)
    right = views.get(join.step.right)
    if left is None or right is None:
        return None
    # Only a step from a foreign key to the referenced key names a role; the other direction
    # reaches "the rows that point here" (an employee's contracts), named by their table.
    if tuple(b for _, b in join.step.pairs) != right.primary_key or len(join.step.pairs) != 1:
        return None
    link = next((x for x in left.columns if x.name == join.step.pairs[0][0]), None)
    if link is None:
        return None
    role = _ID_SUFFIX.sub("", link.label).strip()
    return role if role and role != right.label and role != link.label else None


def link_role(c: Cond, q: Query, views: dict) -> str | None:
    """For `fk IN (SELECT pk FROM other WHERE ...)`: the role the other row plays, from the
    foreign key's label (`签约人` for signer_id, `员工` for emp_id); None for the other direction."""
    if c.sub is None or not isinstance(c.left, Col):
        return None
    key = c.left.column
    base = views.get(q.table)
    if base is None or key.name in base.primary_key or not key.key:
        return None
    return _ID_SUFFIX.sub("", key.label).strip() or None


def reverse_role(c: Cond, q: Query, views: dict) -> str | None:
    """For `pk IN (SELECT fk FROM other WHERE ...)`: what the base row is to the other row, from
    the foreign key's label (`签约人` for sales_contracts.signer_id, `仓库管理员` for keeper_id)."""
    if c.sub is None or not c.sub.select or not isinstance(c.sub.select[0], Col):
        return None
    fk = c.sub.select[0].column
    if not fk.key or not isinstance(c.left, Col) or c.left.column.name not in getattr(views.get(q.table), "primary_key", ()):
        return None
    return _ID_SUFFIX.sub("", fk.label).strip() or None


def col_label(col: Col, q: Query, views: dict, language: str) -> str:
    """A column's label, qualified by its table (or the role the joined row plays) when the query
    joins and it is not the base table's."""
    c = col.column
    if not q.joins or (col.alias in (None, q.alias) and c.table == q.table):
        return c.label
    table_label = views[c.table].label if c.table in views else c.table
    role = role_label(col, q, views)
    if role:  # 直属上级的姓名, not 员工的员工姓名
        own = c.label[len(table_label):] if c.label.startswith(table_label) and len(c.label) > len(table_label) else c.label
        if own.startswith(role) or own.lower().startswith(role.lower()):
            return own  # 合同状态 of the invoice's 合同: already says whose it is
        return f"{role}的{own}" if language == "zh" else f"{possessive(role)} {own}"
    if c.label.startswith(table_label):
        return c.label
    if language == "zh":  # 商品类别 + 类别名称 -> 商品类别名称; otherwise 支付记录的支付编号
        overlap = next((k for k in range(min(len(table_label), len(c.label)), 1, -1) if table_label.endswith(c.label[:k])), 0)
        return table_label + c.label[overlap:] if overlap else f"{table_label}的{c.label}"
    return f"{possessive(table_label)} {c.label}"


def singular(label: str) -> str:
    """`expense claims` -> `expense claim`, `offices` -> `office` (ASCII words only)."""
    if not label.isascii() or not label.endswith("s") or label.endswith("ss"):
        return label
    if label.endswith("ies"):
        return label[:-3] + "y"
    return label[:-2] if re.search(r"(x|ch|sh)es$", label) else label[:-1]


def possessive(label: str) -> str:
    """`staff member's`, `singer's`: whose a value is (a non-English label stays as it is)."""
    return f"{singular(label)}'s" if label.isascii() and " " not in label[-1:] else label


def article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def is_temporal(it: Item) -> bool:
    return isinstance(it, Col) and it.column.temporal


def item_column(it: Item) -> Col | None:
    if isinstance(it, Col):
        return it
    if isinstance(it, YearOf):
        return it.arg
    return it.arg if isinstance(it, Agg) else None


def number_text(value: Any) -> str:
    """12000 -> 12,000; 0.90 -> 0.9; other values as they are."""
    if isinstance(value, decimal.Decimal):
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 1000 else str(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def value_text(value: Any, language: str, column: Column | None = None) -> str:
    """A literal as the question says it: a code by its meaning, an amount with its unit."""
    if column is not None and column.coded and (meaning := column.meaning(value)):
        return meaning
    if column is not None and isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
        text = number_text(value)
        if column.unit and column.role == "measure":
            glued = language == "zh" or column.unit in ("%", "％")
            return f"{text}{column.unit}" if glued else f"{text} {column.unit}"
        return text
    if isinstance(value, bool):
        return ("是" if value else "否") if language == "zh" else ("true" if value else "false")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        value = re.sub(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2})(:00)?(\.0+)?$", r"\1", value)  # 2025-01-21 08:06
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


def flag_core(label: str) -> str:
    """`是否红冲发票` -> `红冲发票`, `is active` -> `active`: what a yes means."""
    return re.sub(r"^(是否|是不是|is\s+|has\s+)", "", label).strip() or label


def item_key(it: Item) -> str:
    if isinstance(it, Col):
        return f"{it.alias or ''}.{it.column.table}.{it.column.name}"
    if isinstance(it, YearOf):
        return f"year({item_key(it.arg)})"
    return f"{it.func}({'distinct ' if it.distinct else ''}{item_key(it.arg) if it.arg else '*'})"


def cond_key(c: Cond) -> str:
    inner = f" sub({c.sub.table})" if c.sub is not None else ""
    return f"{item_key(c.left)} {c.op} {list(map(str, c.values))}{inner}"


def facets(t: Tree) -> list[str]:
    """Everything a question about `t` must say: selected items, filters, aggregates, grouping,
    ordering, limit, DISTINCT and the set operation."""
    if isinstance(t, Compound):
        return [f"set:{t.op}"] + facets(t.left) + facets(t.right)
    out = [f"select:{item_key(i)}" for i in t.select]
    for c in t.where:
        out.append(f"where:{cond_key(c)}")
        if c.op == "in-sub" and c.sub is not None:
            out += [f"where:{cond_key(x)}" for x in c.sub.where]
    out += [f"group:{item_key(g)}" for g in t.group]
    out += [f"having:{cond_key(t.having)}"] if t.having else []
    out += [f"order:{item_key(i)}" for i, _ in t.order]
    out += [f"limit:{t.limit}"] if t.limit is not None else []
    out += ["distinct"] if t.distinct else []
    return list(dict.fromkeys(out))


class Writer:
    """Base of the question writers: the topic's tables, the seeded choice of phrasing and style,
    and a record of what the question said (checked against `facets` of the tree)."""

    def __init__(self, views: dict, rng: random.Random) -> None:
        self.views, self.rng = views, rng
        self.english_names = all(v.label.isascii() and all(c.label.isascii() for c in v.columns) for v in views.values())
        self.said: set[str] = set()
        self.style = "formal"

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def styled(self, **variants: str) -> str:
        """The variant of the sample's style (every style has one per construct)."""
        return variants[self.style]

    def say(self, *keys: str) -> None:
        self.said.update(keys)

    def write(self, t: Tree, style: str) -> tuple[str, list[str]]:
        """(question, facets it left unsaid) in `style`."""
        self.said, self.style = set(), style
        text = self.tree(t)
        text = text[:1].upper() + text[1:] if text[:1].isascii() else text
        return text, [f for f in facets(t) if f not in self.said]

    def tree(self, t: Tree) -> str:  # pragma: no cover - implemented by the language writers
        raise NotImplementedError
