"""Repairs on a recipe's tree before it is rendered: joins nobody asked for are dropped, and a
tie-breaker the question states is added when ORDER BY alone leaves ties."""

from __future__ import annotations

from nl2sql_pipeline.core.synthesis.grammar import tie_breaker
from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Compound, Cond, Item, Query, Tree, YearOf


def _alias(it: Item | None) -> str | None:
    if isinstance(it, Col):
        return it.alias
    if isinstance(it, YearOf | Agg):
        return _alias(it.arg) if it.arg is not None else None
    return None


def _used_aliases(q: Query) -> set[str]:
    items: list[Item | None] = list(q.select) + list(q.group) + [i for i, _ in q.order]
    conds: list[Cond] = list(q.where) + ([q.having] if q.having else [])
    items += [c.left for c in conds]
    return {a for it in items if (a := _alias(it))}


def prune_joins(t: Tree, views: dict) -> None:
    """Drop joins whose tables no clause uses, at the end of the chain and at its start (the
    query is then about the first table it uses): a join the question never mentions must not
    filter or multiply rows. A COUNT(*) counts the joined rows, so its joins stay."""
    if isinstance(t, Compound):
        if t.left.joins != t.right.joins:
            return  # both sides share one FROM clause shape; leave them alike
        used = _used_aliases(t.left) | _used_aliases(t.right)
        for q in (t.left, t.right):
            _trim(q, used)
        return
    used = _used_aliases(t)
    if any(isinstance(i, Agg) and i.arg is None for i in t.select) or (t.having and isinstance(t.having.left, Agg)
                                                                        and t.having.left.arg is None):
        # COUNT(*) counts what a to-many join yields (每个部门的员工数量): those joins stay.
        used |= {j.right_alias for j in t.joins if _to_many(j, views)}
    _trim(t, used)
    counts = any(isinstance(i, Agg) and i.arg is None for i in t.select) or t.having is not None
    while t.joins and t.alias not in used and not counts and t.joins[0].left_alias == t.alias and not any(
            c.sub is not None for c in t.where):
        first = t.joins.pop(0)
        view = views[first.step.right]
        t.table, t.alias, t.entity = view.name, first.right_alias, view.label
    if not t.joins:
        t.counted = None


def _to_many(join: object, views: dict) -> bool:
    right = views.get(join.step.right)
    return right is None or tuple(b for _, b in join.step.pairs) != right.primary_key


def _trim(q: Query, used: set[str]) -> None:
    keep = 0
    for i, join in enumerate(q.joins, start=1):
        if join.right_alias in used:
            keep = i
    if keep < len(q.joins):
        q.joins = q.joins[:keep]


def multi_table(t: Tree) -> bool:
    """More than one table, joined or in a subquery."""
    if isinstance(t, Compound):
        return multi_table(t.left) or multi_table(t.right) or len(set(t.tables)) > 1
    subs = {c.sub.table for c in t.where if c.sub is not None}
    return len(set(t.tables) | subs) > 1


def state_tie_breaker(t: Tree) -> bool:
    """Order ties by a shown column (the writer states it); False when there is none to use."""
    if not isinstance(t, Query) or not t.order or len(t.order) > 1:
        return False
    tb = tie_breaker(t)
    if tb is None:
        return False
    t.order.append((tb, False))
    return True


def distinct_through_fanout(t: Tree, views: dict) -> bool:
    """Rows of the one side repeat once per matching row of a to-many join (a contract's number
    once per delivery): when only one-side columns are shown, show each once (DISTINCT, which the
    question says). False when the order is by a many-side column: no question says that well."""
    if not isinstance(t, Query) or not t.joins or t.group or t.distinct or any(isinstance(i, Agg) for i in t.select):
        return True
    many: set[str] = set()
    for join in t.joins:
        if many or _to_many(join, views):
            many.add(join.right_alias)
    if not many or any(_alias(i) in many for i in t.select):
        return True
    if any(_alias(i) in many or i not in t.select for i, _ in t.order):
        return False  # DISTINCT ordered by a value not shown: which row's value orders it is undefined
    t.distinct = True
    return True


def fixed_output(t: Tree) -> bool:
    """A shown or grouped column that an equality filter fixes to one value (每个合同状态的合同状态为
    草稿的销售合同, 所在城市为北京的仓库的所在城市): the answer repeats the question."""
    if isinstance(t, Compound):
        return fixed_output(t.left) and fixed_output(t.right)
    if t.conj != "and" and len(t.where) > 1:
        return False
    fixed = {c.left for c in t.where if c.op == "=" and isinstance(c.left, Col)}
    listed = {c.left for c in t.where if c.op == "in" and isinstance(c.left, Col)}  # 城市为北京或杭州的仓库的城市
    args = [i.arg for i in t.select if isinstance(i, Agg) and i.arg is not None]  # 金额为5万元的合同的总金额
    return any(i in fixed for i in list(t.select) + list(t.group) + args) or (
        len(t.select) == 1 and not t.group and (t.select[0] in listed or any(a in listed for a in args)))
