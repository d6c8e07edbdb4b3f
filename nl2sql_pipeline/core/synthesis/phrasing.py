"""Shared pieces of question rendering: labels in the context of a query, values, plurals."""

from __future__ import annotations

import datetime as dt
import decimal
import random
import re
from typing import Any

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Compound, Cond, Item, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.relations import (
    chain, hop, owned_en, owned_zh, plain_link, role_of, shared_target,
)
from nl2sql_pipeline.core.synthesis.schema import Column, to_one

STYLES = ("formal", "colloquial", "imperative", "interrogative", "concise")
_ZH_UNIT_GLUED = True  # 5,000元, 13%, 12.5kg: Chinese writes units without a space


def _sub_key(c: Cond, views: dict) -> tuple[Column, bool] | None:
    """(the subquery's selected column, whether it is its table's whole primary key)."""
    if c.sub is None or not c.sub.select or not isinstance(c.sub.select[0], Col) or not isinstance(c.left, Col):
        return None
    col = c.sub.select[0].column
    return col, (col.name,) == getattr(views.get(c.sub.table), "primary_key", None)


def link_role(c: Cond, q: Query, views: dict) -> str | None:
    """For `fk IN (SELECT pk FROM other WHERE ...)`: the role the other row plays, from the
    foreign key's label (`签约人` for signer_id, `员工` for emp_id); None for the other direction."""
    got = _sub_key(c, views)
    if got is None or not got[1] or not c.left.column.key:
        return None
    return role_of(c.left.column.label) or None


def reverses(c: Cond, q: Query, views: dict) -> bool:
    """`pk IN (SELECT fk FROM other ...)`: the base row is what the other rows point to."""
    got = _sub_key(c, views)
    return got is not None and got[0].key and not got[1] and c.left.column.name in getattr(
        views.get(q.table), "primary_key", ())


def reverse_role(c: Cond, q: Query, views: dict) -> str | None:
    """For `pk IN (SELECT fk FROM other WHERE ...)`: what the base row is to the other row, from
    the foreign key's label (`签约人` for sales_contracts.signer_id, `仓库管理员` for keeper_id);
    None for a plain link (payroll.emp_id names the employee, no role)."""
    if not reverses(c, q, views):
        return None
    fk = c.sub.select[0].column
    role = role_of(fk.label)
    return None if not role or role == fk.label or plain_link(role, q.entity) else role


def rows_label(q: Query, views: dict, language: str) -> str | None:
    """What COUNT(*) counts in a joined query when a role leads there (所签约的销售合同,
    所管理的仓库的库存); None when no role does (the counted table's label says it)."""
    many = [j for j in q.joins if not to_one(j.step, views)]
    if not many:
        return None
    path = chain(many[-1].right_alias, q)
    hops = [hop(j, views) for j in path]
    right = views[path[-1].step.right].label
    along, role = hops[-1]
    if language != "zh":  # expense claims approved by the staff member; their own expense claims
        left = views[path[-1].step.left].label
        if len(path) == 1 and not along and not role and shared_target(views, path[-1].step.right, path[-1].step.left):
            return f"their own {plural(right)}"
        return owned_en(role, plural(right), singular(left)) if role and not along else None
    if not any(r for _, r in hops):
        return None
    last = owned_zh(role, right) if role and not along else right
    return _glue(_before(path, hops, views, language), last)


def _glue(before: list[str], last: str) -> str:
    """签约人 + 所属部门的成立日期 -> 签约人所属部门的成立日期; 所管理的仓库 + 库存 -> 所管理的仓库的库存."""
    return "".join(p + ("" if nxt.startswith("所") else "的") for p, nxt in zip(before, before[1:] + [last])) + last


def _own(label: str, table_label: str) -> str:
    return label[len(table_label):] if label.startswith(table_label) and len(label) > len(table_label) else label


def _tail(c: Column, table_label: str, language: str) -> str:
    """A joined table's column named by its table: 仓库的库容, 库存数量, expense claim's amount."""
    if c.label.startswith(table_label):
        return c.label
    if language == "zh":  # 商品类别 + 类别名称 -> 商品类别名称; otherwise 支付记录的支付编号
        overlap = next((k for k in range(min(len(table_label), len(c.label)), 1, -1) if table_label.endswith(c.label[:k])), 0)
        return table_label + c.label[overlap:] if overlap else f"{table_label}的{c.label}"
    return f"{possessive(table_label)} {c.label}"


def col_label(col: Col, q: Query, views: dict, language: str) -> str:
    """A column's label, qualified by its table, or by the roles along the joins that reach it
    (签约人所属部门的成立日期, 所管理的仓库的库容, approver's grade), when the query joins and
    it is not the base table's."""
    c = col.column
    if not q.joins or (col.alias in (None, q.alias) and c.table == q.table):
        return c.label
    table_label = views[c.table].label if c.table in views else c.table
    path = chain(col.alias, q)
    hops = [hop(j, views) for j in path]
    before = _before(path, hops, views, language)
    along, role = hops[-1] if hops else (True, None)
    if role and along:  # 直属上级的姓名, not 员工的员工姓名
        own = _own(c.label, table_label)
        if (own.startswith(role) or own.lower().startswith(role.lower())) and path[-1].step.left != path[-1].step.right:
            last = own  # 合同状态 of the invoice's 合同 says whose it is; 直属上级编号 of the manager does not
        else:
            last = f"{role}的{own}" if language == "zh" else f"{possessive(role)} {own}"
    elif role:  # 所签约的销售合同的合同状态; amount of expense claims approved by the staff member
        if language == "zh":
            last = f"{owned_zh(role, table_label)}的{_own(c.label, table_label)}"
        else:
            left = views[path[-1].step.left].label if path[-1].step.left in views else q.entity
            last = f"{c.label} of {owned_en(role, plural(table_label), singular(left))}"
    elif language != "zh" and len(path) == 1 and not along and shared_target(views, path[-1].step.right,
                                                                              path[-1].step.left):
        last = f"{c.label} of their own {plural(table_label)}"  # not the claims they approve
    else:
        last = _tail(c, table_label, language)
    if not before:
        return last
    if language == "zh":
        return _glue(before, last)
    return " ".join(before) + f" {last}"


def _before(path: list, hops: list[tuple[bool, str | None]], views: dict, language: str) -> list[str]:
    """The hops before the last that say whose row it is: each role on the way (签约人, 所签约的
    销售合同, signer's) and, in Chinese, each table a later role hangs on (部门的员工所签约的…)."""
    out = []
    for i, (join, (along, role)) in enumerate(zip(path[:-1], hops[:-1])):
        right = views[join.step.right].label if join.step.right in views else join.step.right
        if language != "zh":
            out += [possessive(role)] if role and along else []
        elif role:
            out.append(role if along else owned_zh(role, right))
        elif any(r for _, r in hops[i + 1:]):
            out.append(right)
    return out


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
