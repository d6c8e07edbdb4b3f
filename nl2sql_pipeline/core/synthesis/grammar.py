"""Query recipes per Spider hardness level, composed from the FK graph and sampled values.

Each recipe returns an IR tree or None (the topic cannot support it); the synthesizer renders
it, checks its real hardness with `core.hardness.spider_hardness`, and keeps it if that level
still needs samples.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nl2sql_pipeline.core.synthesis.conditions import condition, group_columns
from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Compound, Cond, Join, Query, Tree
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


def _proj(view: TableView, alias: str | None, rng: random.Random, n: int = 1, exclude: tuple[str, ...] = ()) -> list[Col]:
    """Columns to show: mostly descriptive ones, sometimes keys."""
    pool = [c for c in view.columns if c.name not in exclude]
    weights = [1.0 if c.key else 4.0 if c.textual else 2.0 for c in pool]
    chosen: list[Column] = []
    while pool and len(chosen) < n:
        c = rng.choices(pool, weights)[0]
        i = pool.index(c)
        pool.pop(i)
        weights.pop(i)
        chosen.append(c)
    return [Col(c, alias) for c in chosen]


def _measure(view: TableView, alias: str | None, rng: random.Random, allow_key: bool = False) -> Col | None:
    pool = view.pick("measure") or (view.pick("numeric") if allow_key else [])
    return Col(rng.choice(pool), alias) if pool else None


def _agg(view: TableView, alias: str | None, rng: random.Random) -> Agg:
    m = _measure(view, alias, rng)
    if m is None or rng.random() < 0.3:
        return Agg("count")
    return Agg(rng.choice(("sum", "avg", "min", "max")), m)


def _single(ctx: Ctx, **kw: Any) -> tuple[TableView, TableSample, dict | None, Query]:
    view = ctx.view()
    sample = ctx.sample(view)
    return view, sample, ctx.witness(view), Query(table=view.name, entity=view.label, select=[], **kw)


def _where(q: Query, view: TableView, alias: str | None, ctx: Ctx, witness: dict | None, n: int = 1,
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


SIMPLE_OPS = ("=", "!=", ">", "<", ">=", "<=", "between", "in", "is-null", "not-null", ">sub", "<sub")
NO_LIKE = ("=", "!=", ">", "<", ">=", "<=", "between", "in", "is-null", "not-null")


# ---- easy ---------------------------------------------------------------------------------

def e_project(ctx: Ctx) -> Tree | None:
    view, sample, _, q = _single(ctx)
    q.select = _proj(view, None, ctx.rng)
    q.distinct = ctx.rng.random() < 0.4 and q.select[0].column.textual
    return q


def e_filter(ctx: Ctx) -> Tree | None:
    view, sample, w, q = _single(ctx)
    q.select = _proj(view, None, ctx.rng)
    return q if _where(q, view, None, ctx, w, ops=NO_LIKE + ("like",) if ctx.rng.random() < 0.2 else NO_LIKE) else None


def e_count(ctx: Ctx) -> Tree | None:
    view, sample, w, q = _single(ctx)
    q.select = [Agg("count")] if ctx.rng.random() < 0.7 else [Agg("count", _proj(view, None, ctx.rng)[0], distinct=True)]
    if ctx.rng.random() < 0.7 and not _where(q, view, None, ctx, w, ops=NO_LIKE):
        return None
    return q


def e_aggregate(ctx: Ctx) -> Tree | None:
    view, sample, w, q = _single(ctx)
    m = _measure(view, None, ctx.rng)
    if m is None:
        return None
    q.select = [Agg(ctx.rng.choice(("sum", "avg", "min", "max")), m)]
    if ctx.rng.random() < 0.6 and not _where(q, view, None, ctx, w, ops=NO_LIKE):
        return None
    return q


def e_sorted(ctx: Ctx) -> Tree | None:
    view, sample, _, q = _single(ctx)
    key = _measure(view, None, ctx.rng, allow_key=True) or _proj(view, None, ctx.rng)[0]
    q.select = _proj(view, None, ctx.rng, exclude=(key.column.name,)) or [key]
    q.order = [(key, ctx.rng.random() < 0.6)]
    return q


def e_having(ctx: Ctx) -> Tree | None:
    view, sample, _, q = _single(ctx)
    groups = group_columns(view, sample)
    if not groups:
        return None
    g = Col(ctx.rng.choice(groups))
    q.select, q.group = [g], [g]
    op = ctx.rng.choice((">", ">="))
    q.having = Cond(Agg("count"), op, (ctx.rng.choice((1, 2) if op == ">" else (2, 3)),))
    return q


# ---- medium -------------------------------------------------------------------------------

def m_columns_filter(ctx: Ctx) -> Tree | None:
    view, sample, w, q = _single(ctx)
    q.select = _proj(view, None, ctx.rng, n=ctx.rng.choice((2, 2, 3)))
    if len(q.select) < 2:
        return None
    return q if _where(q, view, None, ctx, w, ops=NO_LIKE) else None


def m_group(ctx: Ctx) -> Tree | None:
    view, sample, _, q = _single(ctx)
    groups = group_columns(view, sample)
    if not groups:
        return None
    g = Col(ctx.rng.choice(groups))
    q.select, q.group = [g, _agg(view, None, ctx.rng)], [g]
    return q


def m_top(ctx: Ctx) -> Tree | None:
    view, sample, _, q = _single(ctx)
    key = _measure(view, None, ctx.rng, allow_key=ctx.rng.random() < 0.3)
    if key is None:
        return None
    q.select = _proj(view, None, ctx.rng, exclude=(key.column.name,)) or [key]
    q.order, q.limit = [(key, ctx.rng.random() < 0.7)], ctx.rng.choice((1, 1, 3, 5))
    return q


def m_range(ctx: Ctx) -> Tree | None:
    view, sample, w, q = _single(ctx)
    m = _measure(view, None, ctx.rng)
    if m is None:
        return None
    q.select = [Agg("min", m), Agg("max", m)] if ctx.rng.random() < 0.5 else [Agg("avg", m), Agg("max", m)]
    return q


def m_two_filters(ctx: Ctx) -> Tree | None:
    view, sample, w, q = _single(ctx)
    q.select = _proj(view, None, ctx.rng)
    if ctx.rng.random() < 0.35:
        return q if _where(q, view, None, ctx, w, ops=("like",)) else None
    q.conj = "or" if ctx.rng.random() < 0.3 else "and"
    return q if _where(q, view, None, ctx, w, n=2, ops=NO_LIKE) else None


def _join(ctx: Ctx, hops: int) -> tuple[Query, list[tuple[TableView, str]]] | None:
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


def m_join(ctx: Ctx) -> Tree | None:
    got = _join(ctx, 1)
    if got is None:
        return None
    q, members = got
    (v1, a1), (v2, a2) = members
    if ctx.rng.random() < 0.5:
        q.select = _proj(v1, a1, ctx.rng) + _proj(v2, a2, ctx.rng)
        return q
    q.select = _proj(v2, a2, ctx.rng)
    return q if _where(q, v1, a1, ctx, ctx.witness(v1), ops=NO_LIKE) else None


# ---- hard ---------------------------------------------------------------------------------

def _fk_subquery(ctx: Ctx) -> tuple[TableView, JoinStep] | None:
    steps = [s for s in ctx.view().steps if s.right != s.left and len(s.pairs) == 1]
    return (ctx.views[(s := ctx.rng.choice(steps)).right], s) if steps else None


def h_in_subquery(ctx: Ctx, extra: bool = False) -> Tree | None:
    got = _fk_subquery(ctx)
    if got is None:
        return None
    other, step = got
    view = ctx.view()
    (mine, theirs), = step.pairs
    key = next((c for c in view.columns if c.name == mine), None)
    their = next((c for c in other.columns if c.name == theirs), None)
    if key is None or their is None:
        return None
    sub = Query(table=other.name, entity=other.label, select=[Col(their)])
    negate = ctx.rng.random() < 0.35
    if not negate and not _where(sub, other, None, ctx, ctx.witness(other), ops=NO_LIKE):
        return None
    q = Query(table=view.name, entity=view.label, select=_proj(view, None, ctx.rng, n=2 if extra else 1))
    q.where.append(Cond(Col(key), "not-in-sub" if negate else "in-sub", sub=sub))
    if extra and ctx.rng.random() < 0.5 and not _where(q, view, None, ctx, ctx.witness(view), ops=NO_LIKE):
        return None
    return q


def h_above_average(ctx: Ctx, extra: bool = False) -> Tree | None:
    view, sample, _, q = _single(ctx)
    m = _measure(view, None, ctx.rng)
    if m is None:
        return None
    sub = Query(table=view.name, entity=view.label, select=[Agg(ctx.rng.choice(("avg", "avg", "max", "min")), m)])
    op = "<sub" if sub.select[0].func == "max" else ">sub" if sub.select[0].func == "min" else ctx.rng.choice((">sub", "<sub"))
    q.select = _proj(view, None, ctx.rng, n=2 if extra else 1, exclude=(m.column.name,))
    q.where.append(Cond(m, op, sub=sub))
    if extra:
        q.order = [(m, ctx.rng.random() < 0.6)]
    return q


def h_set(ctx: Ctx, extra: bool = False) -> Tree | None:
    view, sample, w, _ = _single(ctx)
    cols = _proj(view, None, ctx.rng, n=2 if extra else 1)
    left = Query(table=view.name, entity=view.label, select=cols)
    right = Query(table=view.name, entity=view.label, select=list(cols))
    op = ctx.rng.choice(("union", "intersect", "except"))
    if not _where(left, view, None, ctx, w, ops=NO_LIKE):
        return None
    used = {cond_column(c) for c in left.where}
    right_w = w if op == "intersect" else ctx.witness(view)
    cond = condition(view, None, sample, right_w, ctx.rng, exclude=used, ops=NO_LIKE)
    if cond is None:
        return None
    right.where.append(cond)
    return Compound(op, left, right)


def h_group_top(ctx: Ctx) -> Tree | None:
    view, sample, _, q = _single(ctx)
    groups = group_columns(view, sample)
    if not groups:
        return None
    g = Col(ctx.rng.choice(groups))
    agg = _agg(view, None, ctx.rng)
    q.select, q.group = [g, agg], [g]
    q.order, q.limit = [(agg, ctx.rng.random() < 0.75)], ctx.rng.choice((1, 1, 3))
    return q


def h_join_filter_sort(ctx: Ctx) -> Tree | None:
    got = _join(ctx, ctx.rng.choice((1, 2)))
    if got is None:
        return None
    q, members = got
    (v1, a1), (vn, an) = members[0], members[-1]
    q.select = _proj(v1, a1, ctx.rng) if ctx.rng.random() < 0.5 else _proj(vn, an, ctx.rng)
    fv, fa = ctx.rng.choice(members)
    if not _where(q, fv, fa, ctx, ctx.witness(fv), ops=NO_LIKE):
        return None
    if len(members) == 2:
        sv, sa = ctx.rng.choice(members)
        key = _measure(sv, sa, ctx.rng, allow_key=True)
        if key is None:
            return None
        q.order = [(key, ctx.rng.random() < 0.6)]
    return q


# ---- extra --------------------------------------------------------------------------------

def x_join_group(ctx: Ctx) -> Tree | None:
    got = _join(ctx, ctx.rng.choice((1, 1, 2, 3)))
    if got is None:
        return None
    q, members = got
    gv, ga = ctx.rng.choice(members)
    groups = group_columns(gv, ctx.sample(gv))
    g = Col(ctx.rng.choice(groups), ga) if groups else _proj(gv, ga, ctx.rng)[0]
    av, aa = ctx.rng.choice(members)
    agg = _agg(av, aa, ctx.rng)
    q.select, q.group = [g, agg], [g]
    if ctx.rng.random() < 0.5:
        fv, fa = ctx.rng.choice(members)
        if not _where(q, fv, fa, ctx, ctx.witness(fv), ops=NO_LIKE):
            return None
    q.order, q.limit = [(agg, ctx.rng.random() < 0.75)], ctx.rng.choice((1, 3, 5, None))
    return q


def x_nested(ctx: Ctx) -> Tree | None:
    return ctx.rng.choice((h_in_subquery, h_above_average, h_set))(ctx, extra=True)


def x_join_set(ctx: Ctx) -> Tree | None:
    got = _join(ctx, 1)
    if got is None:
        return None
    left, members = got
    (v1, a1), (v2, a2) = members
    cols = _proj(v1, a1, ctx.rng)
    left.select = cols
    right = Query(table=left.table, entity=left.entity, select=list(cols), alias="T1", joins=list(left.joins))
    if not _where(left, v2, a2, ctx, ctx.witness(v2), ops=NO_LIKE):
        return None
    if not _where(right, v2, a2, ctx, ctx.witness(v2), ops=NO_LIKE):
        return None
    if left.where == right.where:
        return None
    return Compound(ctx.rng.choice(("union", "intersect", "except")), left, right)


Recipe = Callable[[Ctx], Tree | None]
RECIPES: dict[str, list[Recipe]] = {
    "easy": [e_project, e_filter, e_filter, e_count, e_aggregate, e_sorted, e_having],
    "medium": [m_columns_filter, m_group, m_top, m_range, m_two_filters, m_join, m_join],
    "hard": [h_in_subquery, h_above_average, h_set, h_group_top, h_join_filter_sort, h_join_filter_sort],
    "extra": [x_join_group, x_join_group, x_nested, x_nested, x_join_set],
}
