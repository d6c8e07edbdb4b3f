"""IR -> sqlglot expression -> SQL text in the database's dialect (T-SQL gets TOP, SQLite strftime)."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from functools import lru_cache
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.mysql import MySQL

from nl2sql_pipeline.core.synthesis.ir import Col, Compound, Cond, Item, Query, Tree, YearOf

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = {w.lower() for w in MySQL.Generator.RESERVED_KEYWORDS} | {"user", "year", "month", "day", "name", "date", "time", "text", "type", "value", "order", "group"}
_CMP = {"=": exp.EQ, "!=": exp.NEQ, ">": exp.GT, "<": exp.LT, ">=": exp.GTE, "<=": exp.LTE}
_AGG = {"count": exp.Count, "sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}


def ident(name: str, dialect: str) -> exp.Identifier:
    """Quoted only when needed: non-ASCII, odd characters, reserved words, or case on PostgreSQL."""
    plain = _PLAIN.fullmatch(name) and name.lower() not in _RESERVED
    if plain and dialect in ("postgres", "redshift") and name != name.lower():
        plain = False
    return exp.to_identifier(name, quoted=not plain)


def literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(value)
    if isinstance(value, dt.datetime):
        return exp.Literal.string(value.isoformat(sep=" "))
    if isinstance(value, dt.date):
        return exp.Literal.string(value.isoformat())
    return exp.Literal.string(str(value))


@lru_cache(maxsize=16)
def _nulls_first_default(dialect: str) -> str:
    return Dialect.get_or_raise(dialect).NULL_ORDERING


class Renderer:
    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self._dialect = Dialect.get_or_raise(dialect)

    def col(self, c: Col) -> exp.Column:
        return exp.Column(this=ident(c.column.name, self.dialect),
                          table=exp.to_identifier(c.alias) if c.alias else None)

    def item(self, it: Item) -> exp.Expression:
        if isinstance(it, Col):
            return self.col(it)
        if isinstance(it, YearOf):
            if self.dialect == "sqlite":
                fmt = exp.Anonymous(this="STRFTIME", expressions=[exp.Literal.string("%Y"), self.col(it.arg)])
                return exp.Cast(this=fmt, to=exp.DataType.build("INTEGER"))
            return exp.Extract(this=exp.var("YEAR"), expression=self.col(it.arg))
        arg: exp.Expression = exp.Star() if it.arg is None else self.col(it.arg)
        if it.distinct:
            arg = exp.Distinct(expressions=[arg])
        return _AGG[it.func](this=arg)

    def cond(self, c: Cond) -> exp.Expression:
        left = self.item(c.left)
        op = c.op
        if op in _CMP:
            return _CMP[op](this=left, expression=literal(c.values[0]))
        if op == "like":
            return exp.Like(this=left, expression=literal(c.values[0]))
        if op == "between":
            return exp.Between(this=left, low=literal(c.values[0]), high=literal(c.values[1]))
        if op == "in":
            return exp.In(this=left, expressions=[literal(v) for v in c.values])
        if op == "is-null":
            return exp.Is(this=left, expression=exp.Null())
        if op == "not-null":
            return exp.Not(this=exp.Is(this=left, expression=exp.Null()))
        assert c.sub is not None
        sub = self.query(c.sub)
        if op == "in-sub":
            return exp.In(this=left, query=exp.Subquery(this=sub))
        if op == "not-in-sub":
            return exp.Not(this=exp.In(this=left, query=exp.Subquery(this=sub)))
        return _CMP[op[0]](this=left, expression=exp.Subquery(this=sub))

    def _ordered(self, it: Item, desc: bool) -> exp.Ordered:
        # Match the dialect's own NULL placement so no NULLS FIRST/LAST clause is printed.
        order = _nulls_first_default(self.dialect)
        nulls_first = (order == "nulls_are_small") != desc if order != "nulls_are_last" else False
        return exp.Ordered(this=self.item(it), desc=desc or None, nulls_first=nulls_first)

    def _table(self, name: str, alias: str | None) -> exp.Table:
        table = exp.Table(this=ident(name, self.dialect))
        if alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return table

    def query(self, q: Query) -> exp.Select:
        # Nodes are set directly: sqlglot's builder methods deep-copy at every step.
        sel = exp.Select(expressions=[self.item(i) for i in q.select])
        if q.distinct:
            sel.set("distinct", exp.Distinct())
        sel.set("from_", exp.From(this=self._table(q.table, q.alias)))
        joins = []
        for j in q.joins:
            on = _conjoin(exp.And, [
                exp.EQ(this=exp.Column(this=ident(a, self.dialect), table=exp.to_identifier(j.left_alias)),
                       expression=exp.Column(this=ident(b, self.dialect), table=exp.to_identifier(j.right_alias)))
                for a, b in j.step.pairs
            ])
            joins.append(exp.Join(this=self._table(j.step.right, j.right_alias), on=on))
        if joins:
            sel.set("joins", joins)
        if q.where:
            sel.set("where", exp.Where(this=_conjoin(exp.And if q.conj == "and" else exp.Or, [self.cond(c) for c in q.where])))
        if q.group:
            sel.set("group", exp.Group(expressions=[self.item(i) for i in q.group]))
        if q.having:
            sel.set("having", exp.Having(this=self.cond(q.having)))
        if q.order:
            sel.set("order", exp.Order(expressions=[self._ordered(i, d) for i, d in q.order]))
        if q.limit is not None:
            sel.set("limit", exp.Limit(expression=exp.Literal.number(q.limit)))
        return sel

    def tree(self, t: Tree) -> exp.Expression:
        if isinstance(t, Compound):
            kind = {"union": exp.Union, "intersect": exp.Intersect, "except": exp.Except}[t.op]
            return kind(this=self.query(t.left), expression=self.query(t.right), distinct=True)
        return self.query(t)

    def sql(self, t: Tree | exp.Expression) -> str:
        return self._dialect.generate(t if isinstance(t, exp.Expression) else self.tree(t))


def _conjoin(kind: type[exp.Connector], parts: list[exp.Expression]) -> exp.Expression:
    out = parts[0]
    for part in parts[1:]:
        out = kind(this=out, expression=part)
    return out
