"""An independent audit of generated pairs, written apart from the validator's semantic layer
(other method, other code) so that the tests measure the pairs, not the validator's own flags.

- ties: the query is re-run without LIMIT and with its ORDER BY keys as extra output columns;
  rows that tie on the keys but differ in output, across the cut-off (or anywhere without a
  LIMIT), make the answer depend on tie-breaking;
- legend pastes: two or more `code meaning` items of a known legend, or a raw comment that
  carries punctuation (a legend, unit or range), in a question;
- arithmetic on codes and identifiers: SUM/AVG/MIN/MAX, + - * / and < > <= >= BETWEEN on a
  column that is a key, named like an id, or coded per the schema's own truth;
- hidden joins: a joined table no clause but ON uses, not named in the question, whose removal
  changes the result.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import sqlglot
from sqlglot import exp

from nl2sql_pipeline.core.schema.metadata import SchemaMetadata

_ID = re.compile(r"(^id$|_id$|id$)", re.IGNORECASE)


def _aliases(tree: exp.Expression) -> dict[str, str]:
    return {(t.alias_or_name or t.name).lower(): t.name.lower() for t in tree.find_all(exp.Table) if t.name}


def _owner(col: exp.Column, tree: exp.Expression, meta: SchemaMetadata) -> str | None:
    aliases = _aliases(tree)
    if col.table:
        return aliases.get(col.table.lower())
    # An unqualified column belongs to its own SELECT's tables (a subquery's, not the outer query's).
    scope = col.find_ancestor(exp.Select)
    own = [t.name.lower() for t in (scope.find_all(exp.Table) if scope is not None else ())
           if t.find_ancestor(exp.Select) is scope]
    for name in own + list(aliases.values()):
        t = meta.table(name)
        if t is not None and t.column(col.name) is not None:
            return t.name.lower()
    return None


def coded_columns(meta: SchemaMetadata, coded: Iterable[tuple[str, str]] = ()) -> set[tuple[str, str]]:
    """Keys, id-named columns and the given coded columns, as (table, column) lower-case."""
    out = {(t.lower(), c.lower()) for t, c in coded}
    for t in meta.tables:
        keys = set(t.primary_key) | {c for fk in t.foreign_keys for c in fk.columns}
        for c in t.columns:
            if c.name in keys or _ID.search(c.name):
                out.add((t.name.lower(), c.name.lower()))
    return out


def code_arithmetic(sql: str, dialect: str, meta: SchemaMetadata, codes: set[tuple[str, str]]) -> list[str]:
    tree = sqlglot.parse_one(sql, read=dialect)
    found = []
    for node in tree.find_all(exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Add, exp.Sub, exp.Mul, exp.Div,
                              exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between):
        operands = [node.this] if isinstance(node, exp.Sum | exp.Avg | exp.Min | exp.Max | exp.Between) else [
            node.this, node.expression]
        for operand in operands:
            if isinstance(operand, exp.Column) and (owner := _owner(operand, tree, meta)):
                if (owner, operand.name.lower()) in codes:
                    found.append(f"{type(node).__name__} on {owner}.{operand.name}")
    return found


def legend_pasted(question: str, legends: dict[tuple[str, str], dict[str, str]], comments: Iterable[str]) -> bool:
    for legend in legends.values():
        hits = sum(1 for code, meaning in legend.items()
                   if re.search(rf"(?<![A-Za-z0-9]){re.escape(code)}\s*[=:：\-]?\s*{re.escape(meaning)}", question))
        if hits >= 2:
            return True
    return any(c and re.search(r"[：:，,（(/=]", c) and c in question for c in comments)


def tie_dependent(sql: str, dialect: str, run) -> bool:
    """Whether rows tied on the ORDER BY keys differ in output where the answer depends on them."""
    tree = sqlglot.parse_one(sql, read=dialect)
    if not isinstance(tree, exp.Select):
        return False
    order, limit = tree.args.get("order"), tree.args.get("limit")
    if order is None:
        if limit is None:
            return False
        full = run(_without_limit(tree, dialect))
        return len(full) > int(limit.expression.this)
    width = len(tree.expressions)
    probe = tree.copy()
    probe.set("limit", None)
    for i, key in enumerate(order.expressions):
        probe.append("expressions", exp.alias_(key.this.copy(), f"audit_key_{i}"))
    rows = run(probe.sql(dialect=dialect))
    keyed = [(tuple(r[width:]), tuple(r[:width])) for r in rows]
    n = int(limit.expression.this) if limit is not None else None
    if n is None:
        groups: dict[tuple, set] = {}
        for k, out in keyed:
            groups.setdefault(k, set()).add(out)
        return any(len(v) > 1 for v in groups.values())
    if len(keyed) <= n:
        return False
    boundary = keyed[n - 1][0]
    tied = [out for k, out in keyed if k == boundary]
    inside = [out for k, out in keyed[:n] if k == boundary]
    return len(tied) > len(inside) and len(set(tied)) > 1


def _without_limit(tree: exp.Select, dialect: str) -> str:
    copy = tree.copy()
    copy.set("limit", None)
    return copy.sql(dialect=dialect)


def hidden_join(sql: str, question: str, dialect: str, meta: SchemaMetadata, labels: dict[str, str], run) -> bool:
    """Joined tables outside the span of the used or named ones (a chain's head or tail that only
    ON clauses use, unnamed in the question) whose removal changes the result."""
    tree = sqlglot.parse_one(sql, read=dialect)
    if not isinstance(tree, exp.Select) or not tree.args.get("joins"):
        return False
    referenced = {(c.table or "").lower() for c in tree.find_all(exp.Column) if c.find_ancestor(exp.Join) is None}
    chain = [tree.args["from_"].this] + [j.this for j in tree.args["joins"]]
    names = [t.name.lower() for t in chain]

    def named(i: int) -> bool:
        if names.count(names[i]) > 1:
            return False  # a self-join's other row is named by its role, not by its table
        label = labels.get(names[i], "")
        return bool(label and label in question) or names[i].replace("_", " ") in question.lower()

    used = [i for i, t in enumerate(chain) if (t.alias_or_name or t.name).lower() in referenced or named(i)]
    if any(isinstance(c.this, exp.Star) for c in tree.find_all(exp.Count)):
        used.append(0)
    if not used:
        return False
    lo, hi = min(used), max(used)
    if lo == 0 and hi == len(chain) - 1:
        return False
    copy = tree.copy()
    joins = list(copy.args["joins"])[max(lo - 1, 0):hi] if lo else list(copy.args["joins"])[:hi]
    if lo:
        copy.set("from_", exp.From(this=joins.pop(0).this.copy()))
    copy.set("joins", joins or None)
    return Counter(run(copy.sql(dialect=dialect))) != Counter(run(sql))
