"""Gold hygiene: gold queries that cannot judge a prediction are flagged and kept out of the headline.

A gold query is flagged when it fails, times out, returns more rows than the cap, returns
nothing (every empty prediction would match it), or is tie-dependent: `ORDER BY ... LIMIT k`
where the k-th and (k+1)-th rows tie on the sort keys, so which rows it returns is up to the
engine, and a correct prediction can be judged wrong.

>>> tie_probe("SELECT name FROM singer ORDER BY age DESC LIMIT 1", "sqlite")
('SELECT name, age AS __tie_key_0 FROM singer ORDER BY age DESC LIMIT 2', 1, 1)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from nl2sql_pipeline.core.execution import ExecutionResult

GoldFlag = Literal["fails", "timeout", "too-large", "empty", "tie-dependent"]
GOLD_FLAGS: tuple[GoldFlag, ...] = ("fails", "timeout", "too-large", "empty", "tie-dependent")


def result_flag(result: ExecutionResult) -> GoldFlag | None:
    """What is wrong with a gold query's own result, if anything (ties are checked apart)."""
    if not result.ok:
        return "timeout" if result.error_kind == "timeout" else "fails"
    if result.truncated:
        return "too-large"
    if not result.rows:
        return "empty"
    return None


_ORDER_AND_LIMIT = re.compile(r"\border\s+by\b.*\blimit\b", re.I | re.S)


def may_tie(gold_sql: str) -> bool:
    """Whether the text can be an `ORDER BY ... LIMIT` query at all (no parse needed to say no)."""
    return bool(_ORDER_AND_LIMIT.search(gold_sql))


@lru_cache(maxsize=65536)  # gold queries recur across calls and runs; parsing is the cost
def tie_probe(gold_sql: str, dialect: str) -> tuple[str, int, int] | None:
    """(probe SQL, k, number of sort keys) for a top-level `ORDER BY ... LIMIT k` gold query:
    the probe returns k + 1 rows with the sort keys appended. None when there is nothing to probe."""
    if not may_tie(gold_sql):
        return None
    try:
        tree = sqlglot.parse_one(gold_sql, read=dialect)
    except SqlglotError:
        return None
    return probe_of(tree, dialect)


def probe_of(tree: exp.Expression, dialect: str) -> tuple[str, int, int] | None:
    """tie_probe for a tree already parsed; the tree is changed in place (pass a copy)."""
    if not isinstance(tree, exp.Select) or tree.args.get("distinct") or not tree.args.get("order"):
        return None
    limit = tree.args.get("limit")
    count = limit.expression if isinstance(limit, exp.Limit) else None
    if not isinstance(count, exp.Literal) or count.is_string or tree.args.get("offset"):
        return None
    k = int(count.this)
    projections = {e.alias_or_name.lower(): e.unalias() for e in tree.expressions if e.alias}
    keys = []
    for i, ordered in enumerate(tree.args["order"].expressions):
        key = ordered.this
        if isinstance(key, exp.Literal) and not key.is_string:  # ORDER BY 2
            position = int(key.this) - 1
            if not 0 <= position < len(tree.expressions):
                return None
            key = tree.expressions[position].unalias()
        elif isinstance(key, exp.Column) and not key.table and key.name.lower() in projections:
            key = projections[key.name.lower()]
        keys.append(exp.alias_(key.copy(), f"__tie_key_{i}", copy=False))
    # No copies of the whole tree (sqlglot's default when generating): they cost ten parses.
    tree.set("expressions", [*tree.expressions, *keys])
    tree.set("limit", exp.Limit(expression=exp.Literal.number(k + 1)))
    return Dialect.get_or_raise(dialect).generate(tree, copy=False), k, len(keys)


def ties_at_cut(rows: Sequence[Sequence[object]], k: int, keys: int) -> bool:
    """Whether the probe's rows k and k + 1 (1-based) share their sort keys."""
    if k < 1 or len(rows) <= k:
        return False
    return tuple(rows[k - 1][-keys:]) == tuple(rows[k][-keys:])
