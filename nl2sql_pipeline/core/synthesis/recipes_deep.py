"""Hard and extra recipes (Spider's levels): nesting, set operations, multi-hop joins with
grouping and ranking.

Each recipe returns an IR tree, or None when the topic's tables cannot support it.
"""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.conditions import condition, group_columns
from nl2sql_pipeline.core.synthesis.grammar import (
    NO_LIKE, Ctx, aggregate, cond_column, join, join_keys, measure, proj, set_columns, single, where,
)
from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Compound, Cond, Query, Tree
from nl2sql_pipeline.core.synthesis.schema import JoinStep, TableView


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
    if not negate and not where(sub, other, None, ctx, ctx.witness(other), ops=NO_LIKE):
        return None
    q = Query(table=view.name, entity=view.label, select=proj(view, None, ctx.rng, n=2 if extra else 1))
    q.where.append(Cond(Col(key), "not-in-sub" if negate else "in-sub", sub=sub))
    if extra and ctx.rng.random() < 0.5 and not where(q, view, None, ctx, ctx.witness(view), ops=NO_LIKE):
        return None
    return q


def h_above_average(ctx: Ctx, extra: bool = False) -> Tree | None:
    view, sample, _, q = single(ctx)
    m = measure(view, None, ctx.rng)
    if m is None:
        return None
    sub = Query(table=view.name, entity=view.label, select=[Agg(ctx.rng.choice(("avg", "avg", "max", "min")), m)])
    op = "<sub" if sub.select[0].func == "max" else ">sub" if sub.select[0].func == "min" else ctx.rng.choice((">sub", "<sub"))
    q.select = proj(view, None, ctx.rng, n=2 if extra else 1, exclude=(m.column.name,))
    q.where.append(Cond(m, op, sub=sub))
    if extra:
        q.order = [(m, ctx.rng.random() < 0.6)]
    return q


def h_set(ctx: Ctx, extra: bool = False) -> Tree | None:
    view, sample, w, _ = single(ctx)
    cols, ops = set_columns(view, None, ctx.rng, n=2 if extra else 1)
    left = Query(table=view.name, entity=view.label, select=cols)
    right = Query(table=view.name, entity=view.label, select=list(cols))
    op = ctx.rng.choice(ops)
    if not where(left, view, None, ctx, w, ops=NO_LIKE):
        return None
    used = {cond_column(c) for c in left.where}
    right_w = w if op == "intersect" else ctx.witness(view)
    cond = condition(view, None, sample, right_w, ctx.rng, exclude=used, ops=NO_LIKE)
    if cond is None:
        return None
    right.where.append(cond)
    return Compound(op, left, right)


def h_group_top(ctx: Ctx) -> Tree | None:
    view, sample, _, q = single(ctx)
    groups = group_columns(view, sample)
    if not groups:
        return None
    g = Col(ctx.rng.choice(groups))
    agg = aggregate(view, None, ctx.rng)
    q.select, q.group = [g, agg], [g]
    q.order, q.limit = [(agg, ctx.rng.random() < 0.75)], ctx.rng.choice((1, 1, 3))
    return q


def h_join_filter_sort(ctx: Ctx) -> Tree | None:
    got = join(ctx, ctx.rng.choice((1, 2)))
    if got is None:
        return None
    q, members = got
    (v1, a1), (vn, an) = members[0], members[-1]
    q.select = proj(v1, a1, ctx.rng) if ctx.rng.random() < 0.5 else proj(vn, an, ctx.rng, exclude=join_keys(q, an))
    fv, fa = ctx.rng.choice(members)
    if not where(q, fv, fa, ctx, ctx.witness(fv), ops=NO_LIKE + ("like",) if ctx.rng.random() < 0.4 else NO_LIKE):
        return None
    if len(members) == 2:
        sv, sa = ctx.rng.choice(members)
        key = measure(sv, sa, ctx.rng, allow_dates=True)
        if key is None:
            return None
        q.order = [(key, ctx.rng.random() < 0.6)]
    return q


# ---- extra --------------------------------------------------------------------------------

def x_join_group(ctx: Ctx) -> Tree | None:
    hops = ctx.rng.choice((1, 2, 3, 3))
    got = next((g for h in range(hops, 0, -1) if (g := join(ctx, h)) is not None), None)
    if got is None:
        return None
    q, members = got
    gv, ga = ctx.rng.choice(members)
    groups = group_columns(gv, ctx.sample(gv))
    if not groups:
        return None
    g = Col(ctx.rng.choice(groups), ga)
    # Sum what the join yields one row for (contracts per signer level), never a parent's
    # amount repeated once per child row.
    av, aa = next(((v, a) for v, a in reversed(members) if v.label == q.counted), members[-1])
    agg = aggregate(av, aa, ctx.rng)
    q.select, q.group = [g, agg], [g]
    # On a long path, filter on an end nothing else uses (上海门店的订单明细按岗位统计), so that
    # every table is used or a bridge between used ones.
    loose = [m for m in (members[0], members[-1]) if len(members) > 2 and m[1] not in (ga, aa)]
    if loose or ctx.rng.random() < 0.5:
        fv, fa = loose[0] if loose else ctx.rng.choice(members)
        if not where(q, fv, fa, ctx, ctx.witness(fv), ops=NO_LIKE):
            return None
    q.order, q.limit = [(agg, ctx.rng.random() < 0.75)], ctx.rng.choice((1, 3, 5, None))
    return q


def x_nested(ctx: Ctx) -> Tree | None:
    return ctx.rng.choice((h_in_subquery, h_above_average, h_set))(ctx, extra=True)


def x_nested_link(ctx: Ctx) -> Tree | None:
    """Rows linked (or not) to matching rows of another table, with more shown or filtered."""
    return h_in_subquery(ctx, extra=True)


def x_join_set(ctx: Ctx) -> Tree | None:
    got = join(ctx, 1)
    if got is None:
        return None
    left, members = got
    (v1, a1), (v2, a2) = members
    cols, ops = set_columns(v1, a1, ctx.rng)
    left.select = cols
    right = Query(table=left.table, entity=left.entity, select=list(cols), alias="T1", joins=list(left.joins))
    if not where(left, v2, a2, ctx, ctx.witness(v2), ops=NO_LIKE):
        return None
    if not where(right, v2, a2, ctx, ctx.witness(v2), ops=NO_LIKE):
        return None
    if cond_column(left.where[0]) == cond_column(right.where[0]):
        return None  # one column filtered twice is one filter (状态为草稿或生效或状态为终止), not a set question
    return Compound(ctx.rng.choice(ops), left, right)
