"""Filters of a logged query in the IR's terms: comparisons with values, LIKE 'x%', BETWEEN, IN
lists of two, NULL tests, IN / NOT IN subqueries over a foreign key, comparisons with a
whole-table aggregate, HAVING COUNT(*) > n (the conditions core.synthesis can phrase)."""

from __future__ import annotations

import decimal
from typing import Any

from sqlglot import exp

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Item, Query

_CMP = {exp.EQ: "=", exp.NEQ: "!=", exp.GT: ">", exp.LT: "<", exp.GTE: ">=", exp.LTE: "<="}
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "=": "=", "!=": "!="}


class Unexpressible(Exception):
    """The IR cannot say what this SQL does; the message is the shape, for the coverage report."""


def _value(e: exp.Expression) -> Any:
    if isinstance(e, exp.Literal):
        if e.is_string:
            return e.this
        text = e.this
        return int(text) if text.lstrip("-").isdigit() else decimal.Decimal(text)
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        return -_value(e.this)
    if isinstance(e, exp.Boolean):
        return bool(e.this)
    raise Unexpressible("comparison with an expression rather than a value")


class ConditionConverter:
    """The filter half of the converter; `item`, `_sub` and `views` come from the query half."""

    views: dict

    def item(self, e: exp.Expression, order_by: bool = False) -> Item:
        raise NotImplementedError

    def _sub(self, node: exp.Expression) -> Query:
        raise NotImplementedError

    def _conditions(self, e: exp.Expression) -> tuple[list[Cond], str]:
        while isinstance(e, exp.Paren):
            e = e.this
        conj = "and" if isinstance(e, exp.And) else "or" if isinstance(e, exp.Or) else "and"
        parts = list(e.flatten()) if isinstance(e, exp.And | exp.Or) else [e]
        parts = [p.unnest() if isinstance(p, exp.Paren) else p for p in parts]
        if any(isinstance(p, exp.And | exp.Or) for p in parts):
            raise Unexpressible("AND and OR mixed")
        return [self.cond(p) for p in parts], conj

    def cond(self, e: exp.Expression) -> Cond:
        if isinstance(e, exp.Not):
            inner = e.this.unnest() if isinstance(e.this, exp.Paren) else e.this
            if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
                return Cond(self.item(inner.this), "not-null")
            if isinstance(inner, exp.In) and inner.args.get("query"):
                return self._in_sub(inner, negate=True)
            raise Unexpressible(f"NOT {inner.key.upper()}")
        if isinstance(e, exp.Is) and isinstance(e.expression, exp.Null):
            return Cond(self.item(e.this), "is-null")
        if type(e) in _CMP:
            op, left, right = _CMP[type(e)], e.this, e.expression
            if isinstance(left, exp.Literal | exp.Neg | exp.Subquery) and not isinstance(right, exp.Literal | exp.Subquery):
                left, right, op = right, left, _FLIP[op]
            if isinstance(right, exp.Subquery):
                return self._versus_aggregate(left, op, right)
            return Cond(self.item(left), op, (_value(right),))
        if isinstance(e, exp.Like):
            pattern = _value(e.expression)
            word = str(pattern).strip("%")
            if not isinstance(pattern, str) or not word or "%" in word or "_" in word or not pattern.endswith("%"):
                raise Unexpressible("LIKE pattern other than 'x%' or '%x%'")
            return Cond(self.item(e.this), "like", (pattern,))
        if isinstance(e, exp.Between):
            return Cond(self.item(e.this), "between", (_value(e.args["low"]), _value(e.args["high"])))
        if isinstance(e, exp.In):
            if e.args.get("query"):
                return self._in_sub(e, negate=False)
            if len(e.expressions) != 2:
                raise Unexpressible(f"IN list of {len(e.expressions)} values (the phrasing names two)")
            return Cond(self.item(e.this), "in", tuple(_value(v) for v in e.expressions))
        raise Unexpressible(f"condition {e.key.upper()}")

    def _in_sub(self, e: exp.In, negate: bool) -> Cond:
        left = self.item(e.this)
        sub = self._sub(e.args["query"])
        if not isinstance(left, Col) or len(sub.select) != 1 or not isinstance(sub.select[0], Col) or sub.joins \
                or sub.group or sub.order or sub.limit is not None or sub.distinct:
            raise Unexpressible("IN subquery other than one linked column")
        theirs = sub.select[0].column
        linked = any(s.right == sub.table and s.pairs == ((left.column.name, theirs.name),)
                     for s in self.views[left.column.table].steps)
        if not linked:
            raise Unexpressible("IN subquery not over a foreign key")
        if negate == bool(sub.where) or (sub.where and sub.conj != "and"):
            raise Unexpressible("NOT IN subquery with filters" if negate else "IN subquery without an AND filter")
        return Cond(left, "not-in-sub" if negate else "in-sub", sub=sub)

    def _versus_aggregate(self, left: exp.Expression, op: str, right: exp.Subquery) -> Cond:
        if op not in (">", "<"):
            raise Unexpressible(f"comparison {op} with a subquery")
        sub = self._sub(right)
        if (len(sub.select) != 1 or not isinstance(sub.select[0], Agg) or sub.select[0].arg is None or sub.where
                or sub.joins or sub.group or sub.order or sub.limit is not None):
            raise Unexpressible("comparison with a subquery other than a whole-table aggregate")
        return Cond(self.item(left), op + "sub", sub=sub)

    def _having(self, e: exp.Expression, q: Query) -> Cond:
        cond = self.cond(e)
        if cond.left != Agg("count") or cond.op not in (">", ">=") or not isinstance(cond.values[0], int):
            raise Unexpressible("HAVING other than COUNT(*) > n or >= n")
        if [i for i in q.select if i not in q.group]:
            raise Unexpressible("HAVING beside aggregates in the select list")
        return cond
