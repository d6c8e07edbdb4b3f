"""Parameterized statements (`$1`, `?`, `%s`, `:name`) get real values so they execute.

Each parameter is matched to the column it is compared with (`col = $1`, `col > ?`, `col IN (?)`,
`col BETWEEN ? AND ?`, `col LIKE ?`); values come from one real row of that column's table (a
witness row, so `a = ? AND b = ?` on one table finds rows), honouring `synthesis.no_sample`.
`LIMIT ?` becomes 10 and `OFFSET ?` 0. A parameter with no column to draw from is reported and
the statement dropped, never guessed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.synthesis.render_sql import ident, literal

SAMPLE_ROWS = 50
_COMPARE = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike)


class ParameterError(Exception):
    """Why a statement's parameters cannot be filled (a countable reason)."""


def parameters(tree: exp.Expression) -> list[exp.Expression]:
    return [n for n in tree.find_all(exp.Placeholder, exp.Parameter)]


def _key(node: exp.Expression) -> str:
    """`$1` used twice is one value; every `?` is its own."""
    if isinstance(node, exp.Parameter) or (isinstance(node, exp.Placeholder) and node.this):
        return f"{node.key}:{node.name}"
    return f"node:{id(node)}"


def _column_tables(tree: exp.Expression, meta: SchemaMetadata) -> dict[int, tuple[str, str]]:
    """id(Column node) -> (table, column) as the metadata spells them, where it resolves."""
    known = {t.name.lower(): t for t in meta.tables}
    out: dict[int, tuple[str, str]] = {}
    for scope in traverse_scope(tree):
        tables = {alias.lower(): src.name.lower() for alias, src in scope.sources.items() if isinstance(src, exp.Table)}
        for col in scope.columns:
            if col.table:
                name = tables.get(col.table.lower())
                candidates = [name] if name else []
            else:
                candidates = [t for t in tables.values() if t in known and known[t].column(col.name)]
            if len(candidates) == 1 and candidates[0] in known and (c := known[candidates[0]].column(col.name)):
                out[id(col)] = (known[candidates[0]].name, c.name)
    return out


@dataclass
class _Need:
    node: exp.Expression
    op: str  # = > < >= <= like in between-low between-high
    table: str
    column: str


def _need(node: exp.Expression, columns: dict[int, tuple[str, str]]) -> _Need | str:
    child, parent = node, node.parent
    while isinstance(parent, (exp.Paren, exp.Cast)):  # `IN (?)` of a digest's `(...)`, `$1::date`
        child, parent = parent, parent.parent
    if isinstance(parent, (exp.Limit, exp.Offset, exp.Fetch)):
        return "offset" if isinstance(parent, exp.Offset) else "limit"
    other, op = None, ""
    if isinstance(parent, _COMPARE):
        other = parent.this if parent.expression is child else parent.expression
        flipped = parent.this is child
        op = {exp.EQ: "=", exp.NEQ: "=", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}.get(type(parent), "like")
        if flipped and op in (">", "<", ">=", "<="):
            op = {">": "<", "<": ">", ">=": "<=", "<=": ">="}[op]
    elif isinstance(parent, exp.In):
        other, op = parent.this, "in"
    elif isinstance(parent, exp.Between):
        other, op = parent.this, "between-low" if parent.args.get("low") is child else "between-high"
    if not isinstance(other, exp.Column) or id(other) not in columns:
        where = parent.key.upper() if parent is not None else "the statement"
        return f"parameter: no table column to draw a value from (in {where})"
    table, column = columns[id(other)]
    return _Need(node, op, table, column)


def _rows(executor: ReadOnlyExecutor, table: str, cols: list[str], dialect: str) -> list[tuple]:
    idents = [ident(c, dialect) for c in cols]
    query = exp.select(*[exp.Column(this=i.copy()) for i in idents]).from_(exp.Table(this=ident(table, dialect)))
    for i in idents:
        query = query.where(exp.Not(this=exp.Is(this=exp.Column(this=i.copy()), expression=exp.Null())))
    query = query.order_by(*[exp.Column(this=i.copy()) for i in idents]).limit(SAMPLE_ROWS)
    result = executor.execute(query.sql(dialect=dialect), row_cap=SAMPLE_ROWS)
    if not result.ok:
        raise ParameterError(f"parameter: sampling {table} failed ({result.error_kind})")
    return result.rows


def _pick(op: str, witness: object, values: list[object]) -> object:
    """A value for which the witness row passes (strict comparisons take a neighbour value)."""
    try:
        if op == ">":
            lower = [v for v in values if v < witness]  # type: ignore[operator]
            return max(lower) if lower else witness
        if op == "<":
            higher = [v for v in values if v > witness]  # type: ignore[operator]
            return min(higher) if higher else witness
        if op == "between-low":
            return min(values)  # type: ignore[type-var]
    except TypeError:
        pass
    return f"%{witness}%" if op == "like" else witness


def _distinct_row(rows: list[tuple], column: int, start: int, position: int) -> tuple:
    """The row holding the `position`-th distinct value of `column`, counting from row `start`."""
    seen: list[object] = []
    for k in range(len(rows)):
        row = rows[(start + k) % len(rows)]
        if row[column] not in seen:
            seen.append(row[column])
            if len(seen) > position:
                return row
    return rows[start]


def fill_parameters(tree: exp.Expression, meta: SchemaMetadata, executor: ReadOnlyExecutor | None, dialect: str,
                    may_sample: Callable[[str, str], bool], seed: str = "0") -> exp.Expression:
    """A copy of `tree` with every parameter replaced by a real literal; ParameterError says why not."""
    tree = tree.copy()
    found = parameters(tree)
    if not found:
        return tree
    try:
        columns = _column_tables(tree, meta)
    except SqlglotError as err:
        raise ParameterError(f"parameter: names do not resolve ({type(err).__name__})") from None
    needs: list[_Need] = []
    for node in found:
        need = _need(node, columns)
        if need in ("limit", "offset"):
            node.replace(exp.Literal.number(10 if need == "limit" else 0))
        elif isinstance(need, str):
            raise ParameterError(need)
        else:
            needs.append(need)
    if needs and executor is None:
        raise ParameterError("parameter: no database connection to sample values from")
    rng = random.Random(f"params:{seed}")
    chosen: dict[str, object] = {}
    by_table: dict[str, list[_Need]] = {}
    for need in needs:
        if not may_sample(need.table, need.column):
            raise ParameterError("parameter: on a column excluded from sampling (synthesis.no_sample)")
        by_table.setdefault(need.table, []).append(need)
    for table, group in by_table.items():
        cols = list(dict.fromkeys(n.column for n in group))
        rows = _rows(executor, table, cols, dialect)  # type: ignore[arg-type]
        if not rows:
            raise ParameterError("parameter: the referenced columns hold no values")
        at = rng.randrange(len(rows))
        for need in group:
            i = cols.index(need.column)
            key = _key(need.node)
            if key not in chosen:
                row = rows[at]
                if need.op == "in":  # each value of a list from another row, so the list is not one value twice
                    siblings = need.node.parent.expressions if isinstance(need.node.parent, exp.In) else [need.node]
                    position = next(k for k, e in enumerate(siblings) if e is need.node)
                    row = _distinct_row(rows, i, at, position)
                chosen[key] = _pick(need.op, row[i], [r[i] for r in rows])
            need.node.replace(literal(chosen[key]))
    return tree
