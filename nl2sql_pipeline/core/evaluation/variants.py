"""Near-miss variants of a gold query, the probes that decide which neighbour databases to keep.

Each variant changes the query the way a model gets it slightly wrong (the test-suite paper's
list): drop or alter a predicate, change a literal, swap a selected column, change an
aggregate, drop DISTINCT / LIMIT / ORDER BY, turn DESC into ASC. All rewrites are sqlglot's.

>>> "SELECT name FROM singer WHERE age > 31" in near_miss_variants("SELECT name FROM singer WHERE age > 30")
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from nl2sql_pipeline.core.hardness import HardnessError, parse_leniently

_AGGREGATE_SWAPS: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.Max: exp.Min, exp.Min: exp.Max, exp.Sum: exp.Avg, exp.Avg: exp.Sum,
}
_COMPARISON_SWAPS: dict[type[exp.Expression], type[exp.Expression]] = {
    exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT,
}
MAX_VARIANTS = 12


def _parse(sql: str, dialect: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        try:
            return parse_leniently(sql, dialect)
        except (HardnessError, SqlglotError):
            return None


def _edits(tree: exp.Expression, columns: Mapping[str, Sequence[str]]) -> Iterator[Callable[[exp.Expression], bool]]:
    """Edits, each applied to a fresh copy and telling whether it changed anything."""

    def on_nth(kind: type[exp.Expression] | tuple[type[exp.Expression], ...], n: int,
               change: Callable[[exp.Expression], bool]) -> Callable[[exp.Expression], bool]:
        def edit(copy: exp.Expression) -> bool:
            nodes = [node for node in copy.find_all(kind)]
            return n < len(nodes) and change(nodes[n])
        return edit

    def drop_arg(name: str) -> Callable[[exp.Expression], bool]:
        def change(node: exp.Expression) -> bool:
            if not node.args.get(name):
                return False
            node.set(name, None)
            return True
        return change

    selects = list(tree.find_all(exp.Select))
    for i, select in enumerate(selects):
        for arg in ("distinct", "limit", "order"):
            if select.args.get(arg):
                yield on_nth(exp.Select, i, drop_arg(arg))
    for i, _ in enumerate(tree.find_all(exp.Ordered)):
        yield on_nth(exp.Ordered, i, lambda o: bool(o.set("desc", not o.args.get("desc")) or True))
    for i, where in enumerate(tree.find_all(exp.Where)):
        if isinstance(where.this, (exp.And, exp.Or)):
            for side in ("this", "expression"):
                yield on_nth(exp.Where, i, lambda w, s=side: bool(w.set("this", w.this.args[s].copy()) or True))
        else:
            yield on_nth(exp.Where, i, lambda w: bool(w.pop() or True))
    for i, lit in enumerate(tree.find_all(exp.Literal)):
        if not lit.is_string:
            for delta in (1, -1):
                yield on_nth(exp.Literal, i, lambda node, d=delta: _shift(node, d))
    for kind, other in (*_AGGREGATE_SWAPS.items(), *_COMPARISON_SWAPS.items()):
        for i, _ in enumerate(tree.find_all(kind)):
            yield on_nth(kind, i, lambda node, o=other: bool(node.replace(o(**node.args)) or True))
    for i, count in enumerate(tree.find_all(exp.Count)):
        if not isinstance(count.this, (exp.Star, exp.Distinct)):
            yield on_nth(exp.Count, i, lambda node: bool(node.set("this", exp.Distinct(expressions=[node.this.copy()])) or True))
    projected = [c for s in selects[:1] for e in s.expressions for c in ([e] if isinstance(e, exp.Column) else [])]
    known = sorted({c for cols in columns.values() for c in cols})
    for i, column in enumerate(projected):
        swaps = [c for c in known if c.lower() != column.name.lower()][:2]
        for swap in swaps:
            yield on_nth(exp.Column, _index_of(tree, column), lambda node, s=swap: bool(node.set("this", exp.to_identifier(s, quoted=True)) or True))


def _index_of(tree: exp.Expression, node: exp.Expression) -> int:
    return next(i for i, c in enumerate(tree.find_all(exp.Column)) if c is node)


def _shift(node: exp.Expression, delta: int) -> bool:
    try:
        value = float(node.this)
    except ValueError:
        return False
    shifted = value + delta
    node.set("this", str(int(shifted)) if shifted.is_integer() and "." not in node.this else str(shifted))
    return True


def near_miss_variants(gold_sql: str, dialect: str = "sqlite", columns: Mapping[str, Sequence[str]] | None = None,
                       limit: int = MAX_VARIANTS) -> list[str]:
    """Up to `limit` distinct rewrites of `gold_sql`, each a plausible model mistake."""
    tree = _parse(gold_sql, dialect)
    if tree is None:
        return []
    original = tree.sql(dialect=dialect)
    seen = {original}
    out = []
    for edit in _edits(tree, columns or {}):
        copy = tree.copy()
        try:
            if not edit(copy):
                continue
            sql = copy.sql(dialect=dialect)
        except (SqlglotError, ValueError, StopIteration, KeyError):
            continue
        if sql not in seen:
            seen.add(sql)
            out.append(sql)
        if len(out) >= limit:
            break
    return out
