"""WHERE/HAVING conditions that a real "witness" row satisfies, so filtered queries return rows.

Columns whose values may not be read (privacy) or tables without rows get value-free forms.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import replace
from typing import Any

from nl2sql_pipeline.core.chinese import HAN
from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Cond, Query, YearOf
from nl2sql_pipeline.core.synthesis.schema import Column, TableView
from nl2sql_pipeline.core.synthesis.values import TableSample

_WORD = re.compile(r"[^\W\d_]{2,}|[" + HAN + "]{1,3}")


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _below(values: list[Any], w: Any) -> list[Any]:
    return [v for v in values if type(v) is type(w) and v < w]


def _above(values: list[Any], w: Any) -> list[Any]:
    return [v for v in values if type(v) is type(w) and v > w]


def _around(col: Col, values: list[Any], w: Any, rng: random.Random) -> list[Cond]:
    """Strict comparisons and a range that all keep `w`, with bounds taken from real values."""
    lo, hi = _below(values, w), _above(values, w)
    out = []
    if lo:
        out.append(Cond(col, ">", (rng.choice(lo),)))
    if hi:
        out.append(Cond(col, "<", (rng.choice(hi),)))
    if lo and hi:
        out.append(Cond(col, "between", (rng.choice(lo), rng.choice(hi))))
    return out


def _like_pattern(value: str, rng: random.Random) -> str | None:
    words = _WORD.findall(value)
    if not words:
        return None
    word = rng.choice(words)
    return f"{word}%" if value.startswith(word) and rng.random() < 0.4 else f"%{word}%"


def value_cond(col: Col, sample: TableSample, witness: dict[str, Any] | None, rng: random.Random,
               ops: tuple[str, ...] | None = None) -> Cond | None:
    """A condition on `col` that keeps `witness` (a row of its table), or None if none fits."""
    c = col.column
    values = sample.distinct(c.name)
    w = None if witness is None else witness.get(c.name.lower())
    options: list[Cond] = []
    nulls = c.nullable and sample.has_nulls(c.name)
    if nulls and rng.random() < 0.3 and (ops is None or {"is-null", "not-null"} <= set(ops)):
        return Cond(col, "is-null" if w is None or rng.random() < 0.5 else "not-null")
    if values and w is not None and w in values:
        others = [v for v in values if v != w]
        if c.role == "flag" or c.type == "boolean" or isinstance(w, bool):
            options.append(Cond(col, "=", (w,)))  # yes or no, nothing in between
        elif c.role in ("category", "identifier"):
            # Codes and identifiers are names, not quantities: equality and lists only.
            options.append(Cond(col, "=", (w,)))
            if len(others) >= 2 and c.role == "category":  # 性别为女或男 lists every value: no filter
                options.append(Cond(col, "in", tuple(sorted([w, rng.choice(others)], key=str))))
            if others and c.role == "category":
                options.append(Cond(col, "!=", (rng.choice(others),)))
        elif c.measure:
            options.append(Cond(col, "=", (w,)))
            # 奖金至少为0元 at the lowest value filters nothing: bounds only inside the values.
            options += [Cond(col, ">=", (w,))] if _below(values, w) else []
            options += [Cond(col, "<=", (w,))] if _above(values, w) else []
            options += _around(col, values, w, rng)
        elif c.temporal or _as_date(w) or c.role == "datetime":
            options += _around(col, values, w, rng)
            day = _as_date(w)
            if day and c.type in ("date", "datetime"):
                options.append(Cond(YearOf(col), "=", (day.year,)))
            if c.numeric:
                options.append(Cond(col, "=", (w,)))
        else:
            options.append(Cond(col, "=", (w,)))
            if len(others) >= 2:
                options.append(Cond(col, "in", tuple(sorted([w, rng.choice(others)], key=str))))
            if others:
                options.append(Cond(col, "!=", (rng.choice(others),)))
            if isinstance(w, str) and (pattern := _like_pattern(w, rng)):
                options.append(Cond(col, "like", (pattern,)))
    if nulls:  # other rows have NULLs: IS NULL finds rows too
        options.append(Cond(col, "is-null" if w is None or rng.random() < 0.4 else "not-null"))
    if not options:
        if c.nullable:
            options.append(Cond(col, "not-null"))
        if c.measure:
            sub = Query(table=c.table, entity="", select=[Agg("avg", Col(c))])
            options.append(Cond(col, rng.choice((">sub", "<sub")), sub=sub))
    if ops is not None:
        options = [o for o in options if o.op in ops]
    if not options:
        return None
    chosen = rng.choice(options)
    return replace(chosen, kept=witness is not None and _holds(chosen, w))


def _holds(cond: Cond, w: Any) -> bool:
    """Whether the witness value satisfies the condition (False when unsure)."""
    op, vals = cond.op, cond.values
    if op == "is-null":
        return w is None
    if op == "not-null":
        return w is not None
    if w is None or cond.sub is not None:
        return False
    if isinstance(cond.left, YearOf):
        day = _as_date(w)
        return day is not None and day.year == vals[0]
    try:
        if op == "like":
            word = vals[0].strip("%")
            return isinstance(w, str) and (w.startswith(word) if not vals[0].startswith("%") else word in w)
        if op == "in":
            return w in vals
        if op == "between":
            return vals[0] <= w <= vals[1]
        return {"=": w == vals[0], "!=": w != vals[0], ">": w > vals[0], "<": w < vals[0],
                ">=": w >= vals[0], "<=": w <= vals[0]}[op]
    except TypeError:  # values of different types: the database decides
        return False


def condition(view: TableView, alias: str | None, sample: TableSample, witness: dict[str, Any] | None,
              rng: random.Random, exclude: set[str] = frozenset(), ops: tuple[str, ...] | None = None,
              non_key: bool = True) -> Cond | None:
    """A condition on some column of `view`, trying columns in random order."""
    # Identifiers make poor filters, except optional ones (a missing manager, an unassigned employee).
    cols = [c for c in view.columns if c.name not in exclude
            and (not non_key or not (c.key or c.identifier) or sample.has_nulls(c.name) or rng.random() < 0.05)]
    rng.shuffle(cols)
    for column in cols:
        # An identifier is asked about as present or missing (没有填写上级部门), never by its value.
        use = ("is-null", "not-null") if column.key or column.identifier else ops
        if ops is not None and use is not ops:
            use = tuple(o for o in use if o in ops)
        cond = value_cond(Col(column, alias), sample, witness, rng, use)
        if cond is not None:
            return cond
    return None


def group_columns(view: TableView, sample: TableSample) -> list[Column]:
    """Columns worth grouping by: categories, flags and repeated texts (cities), never amounts,
    dates or identifiers."""
    out = []
    for c in view.columns:
        if c.temporal or c.role not in ("category", "text"):
            continue  # flags are asked as yes/no, not grouped by
        values = sample.distinct(c.name)
        if sample.rows:
            if values and len(values) <= max(2, 0.7 * len(sample.rows)):
                out.append(c)
        elif c.role == "category":
            out.append(c)
    return out
