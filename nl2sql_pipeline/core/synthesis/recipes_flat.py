"""Easy and medium recipes (Spider's levels): one query level, at most one FK join.

Each recipe returns an IR tree, or None when the topic's tables cannot support it.
"""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.conditions import group_columns
from nl2sql_pipeline.core.synthesis.grammar import (
    NO_LIKE, Ctx, aggregate, join, join_keys, measure, proj, single, summaries, where,
)
from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Tree


# ---- easy ---------------------------------------------------------------------------------

def e_project(ctx: Ctx) -> Tree | None:
    view, sample, _, q = single(ctx)
    q.select = proj(view, None, ctx.rng)
    q.distinct = ctx.rng.random() < 0.4 and q.select[0].column.textual
    return q


def e_filter(ctx: Ctx) -> Tree | None:
    view, sample, w, q = single(ctx)
    q.select = proj(view, None, ctx.rng)
    return q if where(q, view, None, ctx, w, ops=NO_LIKE + ("like",) if ctx.rng.random() < 0.35 else NO_LIKE) else None


def e_count(ctx: Ctx) -> Tree | None:
    view, sample, w, q = single(ctx)
    # Distinct values worth counting: not a yes/no flag, not the table's own key.
    countable = tuple(c.name for c in view.columns if c.role == "flag" or c.name in view.primary_key)
    of = proj(view, None, ctx.rng, exclude=countable)
    q.select = [Agg("count")] if ctx.rng.random() < 0.7 or not of else [Agg("count", of[0], distinct=True)]
    if ctx.rng.random() < 0.7 and not where(q, view, None, ctx, w, ops=NO_LIKE):
        return None
    return q


def e_aggregate(ctx: Ctx) -> Tree | None:
    view, sample, w, q = single(ctx)
    m = measure(view, None, ctx.rng)
    if m is None:
        return None
    q.select = [Agg(ctx.rng.choice(summaries(m)), m)]
    if ctx.rng.random() < 0.6 and not where(q, view, None, ctx, w, ops=NO_LIKE):
        return None
    return q


def e_sorted(ctx: Ctx) -> Tree | None:
    view, sample, _, q = single(ctx)
    key = measure(view, None, ctx.rng, allow_dates=True)
    if key is None:
        return None
    q.select = proj(view, None, ctx.rng, exclude=(key.column.name,)) or [key]
    q.order = [(key, ctx.rng.random() < 0.6)]
    return q


def e_having(ctx: Ctx) -> Tree | None:
    view, sample, _, q = single(ctx)
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
    view, sample, w, q = single(ctx)
    q.select = proj(view, None, ctx.rng, n=ctx.rng.choice((2, 2, 3)))
    if len(q.select) < 2:
        return None
    return q if where(q, view, None, ctx, w, ops=NO_LIKE) else None


def m_group(ctx: Ctx) -> Tree | None:
    view, sample, _, q = single(ctx)
    groups = group_columns(view, sample)
    if not groups:
        return None
    g = Col(ctx.rng.choice(groups))
    q.select, q.group = [g, aggregate(view, None, ctx.rng)], [g]
    return q


def m_top(ctx: Ctx) -> Tree | None:
    view, sample, _, q = single(ctx)
    key = measure(view, None, ctx.rng, allow_dates=ctx.rng.random() < 0.3)
    if key is None:
        return None
    q.select = proj(view, None, ctx.rng, exclude=(key.column.name,)) or [key]
    q.order, q.limit = [(key, ctx.rng.random() < 0.7)], ctx.rng.choice((1, 1, 3, 5))
    return q


def m_range(ctx: Ctx) -> Tree | None:
    view, sample, w, q = single(ctx)
    m = measure(view, None, ctx.rng)
    if m is None:
        return None
    q.select = [Agg("min", m), Agg("max", m)] if ctx.rng.random() < 0.5 else [Agg("avg", m), Agg("max", m)]
    return q


def m_two_filters(ctx: Ctx) -> Tree | None:
    view, sample, w, q = single(ctx)
    q.select = proj(view, None, ctx.rng)
    if ctx.rng.random() < 0.35:
        return q if where(q, view, None, ctx, w, ops=("like",)) else None
    q.conj = "or" if ctx.rng.random() < 0.3 else "and"
    return q if where(q, view, None, ctx, w, n=2, ops=NO_LIKE) else None


def e_join_project(ctx: Ctx) -> Tree | None:
    """Each row with a fact of the row it points to: 员工的姓名及其所属部门的名称."""
    got = join(ctx, 1)
    if got is None:
        return None
    q, members = got
    (v1, a1), (v2, a2) = members
    q.select = proj(v1, a1, ctx.rng) + proj(v2, a2, ctx.rng, exclude=join_keys(q, a2))
    return q


def m_join_group(ctx: Ctx) -> Tree | None:
    """Counts or amounts of one table per category of a linked one: 每个部门的员工数量."""
    got = join(ctx, 1)
    if got is None:
        return None
    q, members = got
    (v1, a1), (v2, a2) = members
    gv, ga = ctx.rng.choice(members)
    groups = group_columns(gv, ctx.sample(gv))
    if not groups:
        return None
    g = Col(ctx.rng.choice(groups), ga)
    av, aa = next(((v, a) for v, a in reversed(members) if v.label == q.counted), members[-1])
    q.select, q.group = [g, aggregate(av, aa, ctx.rng)], [g]
    return q


def m_join(ctx: Ctx) -> Tree | None:
    got = join(ctx, 1)
    if got is None:
        return None
    q, members = got
    (v1, a1), (v2, a2) = members
    if ctx.rng.random() < 0.5:
        q.select = proj(v1, a1, ctx.rng) + proj(v2, a2, ctx.rng, exclude=join_keys(q, a2))
        return q
    q.select = proj(v2, a2, ctx.rng, exclude=join_keys(q, a2))
    if ctx.rng.random() < 0.3 and where(q, v1, a1, ctx, ctx.witness(v1), ops=("like",)):
        return q  # names matched by a word: 名称包含“华信”的客户
    return q if where(q, v1, a1, ctx, ctx.witness(v1), ops=NO_LIKE) else None
