"""The synchronous grammar's intermediate form: one tree renders both the SQL and the question."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nl2sql_pipeline.core.synthesis.schema import Column, JoinStep


@dataclass(frozen=True)
class Col:
    column: Column
    alias: str | None = None  # the table's alias when the query joins


@dataclass(frozen=True)
class Agg:
    func: str  # count | sum | avg | min | max
    arg: Col | None = None  # None: COUNT(*)
    distinct: bool = False


@dataclass(frozen=True)
class YearOf:
    arg: Col


Item = Col | Agg | YearOf


@dataclass(frozen=True)
class Cond:
    """`left op values`, or `left op (sub)` for nested forms (in-sub, not-in-sub, >sub, <sub)."""

    left: Item
    op: str  # = != > < >= <= like between in is-null not-null in-sub not-in-sub >sub <sub
    values: tuple[Any, ...] = ()
    sub: Query | None = None
    kept: bool = False  # a real row (the witness) satisfies it, so the filter alone finds rows


@dataclass(frozen=True)
class Join:
    step: JoinStep
    left_alias: str
    right_alias: str


@dataclass
class Query:
    table: str  # the base table: what the question is about
    entity: str  # its label
    select: list[Item]
    alias: str | None = None
    joins: list[Join] = field(default_factory=list)
    where: list[Cond] = field(default_factory=list)
    conj: str = "and"
    group: list[Item] = field(default_factory=list)
    having: Cond | None = None
    order: list[tuple[Item, bool]] = field(default_factory=list)  # (item, descending)
    limit: int | None = None
    distinct: bool = False
    counted: str | None = None  # label of what one row of the FROM clause is, when it joins

    @property
    def tables(self) -> list[str]:
        return [self.table] + [j.step.right for j in self.joins]


@dataclass
class Compound:
    op: str  # union | intersect | except
    left: Query
    right: Query

    @property
    def tables(self) -> list[str]:
        return self.left.tables + self.right.tables


Tree = Query | Compound
