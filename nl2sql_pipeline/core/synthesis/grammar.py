"""The grammar's building blocks: what a recipe may pick (columns, measures, aggregates,
conditions kept by a real row, FK join paths) for the topic's anchor table."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from nl2sql_pipeline.core.synthesis.conditions import condition
from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Join, Query
from nl2sql_pipeline.core.synthesis.schema import Column, JoinStep, TableView, join_paths
from nl2sql_pipeline.core.synthesis.values import TableSample, ValueSource


@dataclass
class Ctx:
    views: dict[str, TableView]
    values: ValueSource
    rng: random.Random
    anchor: str
    _paths: dict[str, list[list[JoinStep]]] = field(default_factory=dict)

    def view(self, name: str | None = None) -> TableView:
        return self.views[name or self.anchor]

    def sample(self, view: TableView) -> TableSample:
        return self.values.table(view)

    def witness(self, view: TableView) -> dict[str, Any] | None:
        return self.sample(view).witness(self.rng)

    def paths(self, hops: int) -> list[list[JoinStep]]:
        if self.anchor not in self._paths:
            self._paths[self.anchor] = join_paths(self.views, self.anchor, 3)
        return [p for p in self._paths[self.anchor] if len(p) == hops]


def proj(view: TableView, alias: str | None, rng: random.Random, n: int = 1, exclude: tuple[str, ...] = ()) -> list[Col]:
    """Columns to show: mostly names and descriptive ones, rarely identifiers."""
    pool = [c for c in view.columns if c.name not in exclude]
    weights = [0.5 if c.identifier else 4.0 if c.role == "text" else 2.0 for c in pool]
    chosen: list[Column] = []
    while pool and len(chosen) < n:
        c = rng.choices(pool, weights)[0]
        i = pool.index(c)
        pool.pop(i)
        weights.pop(i)
        chosen.append(c)
    return [Col(c, alias) for c in chosen]


def set_columns(view: TableView, alias: str | None, rng: random.Random,
                n: int = 1) -> tuple[list[Col], tuple[str, ...]]:
    """Columns for a set operation and the operations they suit: "which names are in both" asks
    about things (names, descriptions); "which genders or weights are in both" asks nothing, so
    other columns only take UNION."""
    names = [c for c in view.columns if c.role == "text"]
    if names:
        return [Col(c, alias) for c in rng.sample(names, min(n, len(names)))], ("union", "intersect", "except")
    return proj(view, alias, rng, n=n), ("union",)


def join_keys(q: Query, alias: str) -> tuple[str, ...]:
    """The joined table's columns its join matches: they only repeat the other side's key
    (销售合同的签约人编号 next to the employee it joins), so a question does not ask for them."""
    return tuple(b for j in q.joins if j.right_alias == alias for _, b in j.step.pairs)


def measure(view: TableView, alias: str | None, rng: random.Random, allow_dates: bool = False) -> Col | None:
    """A measure (amounts, quantities); with `allow_dates` a date to sort by when none exists.
    Codes, flags and identifiers are never measures."""
    pool = view.pick("measure") or (view.pick("orderable") if allow_dates else [])
    return Col(rng.choice(pool), alias) if pool else None


def aggregate(view: TableView, alias: str | None, rng: random.Random) -> Agg:
    m = measure(view, alias, rng)
    if m is None or rng.random() < 0.3:
        return Agg("count")
    return Agg(rng.choice(summaries(m)), m)


def summaries(m: Col) -> tuple[str, ...]:
    """The aggregates a measure takes: no SUM of unit prices or rates."""
    return ("sum", "avg", "min", "max") if m.column.additive else ("avg", "min", "max")


def tie_breaker(q: Query) -> Col | None:
    """A shown column to order ties by (stated in the question), not already an ORDER BY key;
    names, amounts and dates only, never codes or identifiers."""
    keys = {it for it, _ in q.order}
    return next((it for it in q.select if isinstance(it, Col) and it not in keys and not it.column.identifier
                 and not it.column.coded and it.column.role != "flag"), None)


def single(ctx: Ctx, **kw: Any) -> tuple[TableView, TableSample, dict | None, Query]:
    view = ctx.view()
    sample = ctx.sample(view)
    return view, sample, ctx.witness(view), Query(table=view.name, entity=view.label, select=[], **kw)


def where(q: Query, view: TableView, alias: str | None, ctx: Ctx, witness: dict | None, n: int = 1,
           ops: tuple[str, ...] | None = None) -> bool:
    used: set[str] = set()
    for _ in range(n):
        cond = condition(view, alias, ctx.sample(view), witness, ctx.rng, exclude=used, ops=ops)
        if cond is None:
            return False
        q.where.append(cond)
        used.add(cond_column(cond))
    return True


def cond_column(cond: Cond) -> str:
    left = cond.left
    col = left if isinstance(left, Col) else left.arg
    return col.column.name if col is not None else "*"


NO_LIKE = ("=", "!=", ">", "<", ">=", "<=", "between", "in", "is-null", "not-null")


def join(ctx: Ctx, hops: int) -> tuple[Query, list[tuple[TableView, str]]] | None:
    paths = ctx.paths(hops)
    if not paths:
        return None
    path = ctx.rng.choice(paths)
    base = ctx.view()
    q = Query(table=base.name, entity=base.label, select=[], alias="T1")
    members = [(base, "T1")]
    counted = base
    for i, step in enumerate(path, start=2):
        q.joins.append(Join(step, members[-1][1], f"T{i}"))
        right = ctx.views[step.right]
        members.append((right, f"T{i}"))
        # A join to the right table's primary key keeps one row per left row; else rows multiply.
        if tuple(b for _, b in step.pairs) != right.primary_key or not right.primary_key:
            counted = right
    q.counted = counted.label
    return q, members
