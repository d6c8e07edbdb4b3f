"""Spider's hardness levels (easy/medium/hard/extra) computed on a sqlglot parse.

Spider's official `evaluation.py` (`Evaluator.eval_hardness`) counts three things on its own
parse of a query and maps them to a level:

- component1: WHERE, GROUP BY, ORDER BY, LIMIT present (1 each), one per JOINed table, one per
  OR and one per LIKE among the top-level conditions (ON, WHERE, HAVING);
- component2: nested queries: subquery values of those conditions, plus one for a top-level
  INTERSECT/UNION/EXCEPT (Spider nests a chain of them, so the top level holds just one);
- others: more than one aggregate, more than one selected item, more than one WHERE condition,
  more than one GROUP BY key (1 each).

Spider's aggregate count has two quirks that this module reproduces on purpose, because the
published per-hardness numbers depend on them: a WHERE or HAVING condition negated with NOT
(`x NOT IN`, `x NOT LIKE`) counts as an aggregate, and so does every AND/OR joining HAVING
conditions (its `has_agg` reads the first element of a condition tuple or the string "and").

Constructs Spider's parser rejects (CTEs, subqueries in the select list) count as one nested
query each, so generated SQL outside Spider's subset still gets a sensible level.

>>> spider_hardness("SELECT count(*) FROM singer")
'easy'
>>> spider_hardness("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)")
'hard'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.tokens import TokenType

from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.execution.gate import parse_tokens, tokenize
from nl2sql_pipeline.core.execution.limits import text_problem, token_problem

Hardness = Literal["easy", "medium", "hard", "extra"]
HARDNESS_LEVELS: tuple[Hardness, ...] = ("easy", "medium", "hard", "extra")

# Spider's AGG_OPS: max, min, count, sum, avg (no GROUP_CONCAT and friends).
_SPIDER_AGGS = (exp.Max, exp.Min, exp.Count, exp.Sum, exp.Avg)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div)
# Statement keywords sqlglot never reads as names. Inside a query they can only be names, and
# Spider's tokenizer reads them so (Spider-de's gold SQL has a column `alter`).
_STATEMENT_KEYWORDS = {TokenType.ALTER, TokenType.CREATE, TokenType.DROP, TokenType.INSERT}
_QUERY_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN}


class HardnessError(Nl2SqlError):
    """The SQL cannot be parsed, so no hardness level can be assigned."""


@dataclass(frozen=True)
class HardnessCounts:
    component1: int
    component2: int
    others: int

    @property
    def level(self) -> Hardness:
        c1, c2, oth = self.component1, self.component2, self.others
        if c1 <= 1 and oth == 0 and c2 == 0:
            return "easy"
        if (oth <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and oth < 2 and c2 == 0):
            return "medium"
        if (
            (oth > 2 and c1 <= 2 and c2 == 0)
            or (2 < c1 <= 3 and oth <= 2 and c2 == 0)
            or (c1 <= 1 and oth == 0 and c2 <= 1)
        ):
            return "hard"
        return "extra"


def spider_hardness(sql: str, dialect: str = "sqlite") -> Hardness:
    """Spider's hardness level of one query, e.g. "easy" for `SELECT count(*) FROM t`.

    Raises HardnessError when the SQL does not parse in `dialect` or is not a query.
    """
    try:
        tree = parse_leniently(sql, dialect)
    except SqlglotError as err:
        raise HardnessError(
            f"Cannot parse SQL for its hardness ({type(err).__name__}: {str(err).splitlines()[0][:200]}).",
            f"pass valid {dialect} SQL, or the dialect the SQL is written in.",
        ) from err
    return hardness_counts(tree).level


def parse_leniently(sql: str, dialect: str = "sqlite") -> exp.Expression:
    """sqlglot's parse of one query, reading statement keywords used as column names as names.

    For labels (hardness, variants, tie probes) only: the tree may come from altered text, so it
    never decides what may run; that is the gate's strict `execution.parse_query`. Text beyond
    the gate's parser-safe limits is refused before the parser sees it (a deep nesting would
    crash it). Raises sqlglot's SqlglotError when the SQL does not parse even then.
    """
    problem = text_problem(sql)
    tokens = tokenize(sql, dialect) if problem is None else []
    problem = problem or token_problem(tokens)
    if problem:
        raise ParseError(problem)
    try:
        statements = parse_tokens(sql, tokens, dialect)
        if len(statements) != 1:
            raise ParseError(f"expected one statement, got {len(statements)}")
        return statements[0]
    except SqlglotError:
        if not tokens or tokens[0].token_type not in _QUERY_STARTS:
            raise
        names = [t for t in tokens if t.token_type in _STATEMENT_KEYWORDS]
        if not names:
            raise
        for token in reversed(names):
            quoted = exp.Identifier(this=token.text, quoted=True).sql(dialect=dialect)
            sql = sql[: token.start] + quoted + sql[token.end + 1 :]
        return sqlglot.parse_one(sql, read=dialect)


def hardness_counts(tree: exp.Expression) -> HardnessCounts:
    """The three counts Spider's eval_hardness maps to a level, for a parsed query.

    Raises HardnessError when the tree is not a query.
    """
    select, set_ops = _main_select(tree)
    if select is None:
        raise HardnessError(
            f"Hardness is defined for queries only, not for {type(tree).__name__} statements.",
            "pass a SELECT (or WITH ... SELECT) query.",
        )

    on_conds = [join.args["on"] for join in select.args.get("joins") or [] if join.args.get("on")]
    on_leaves, on_ors = _flatten_all(on_conds)
    where = select.args.get("where")
    where_leaves, where_ors = _flatten_all([where.this] if where else [])
    having = select.args.get("having")
    having_leaves, having_ors = _flatten_all([having.this] if having else [])
    group = select.args.get("group")
    group_keys = len(group.expressions) if group else 0
    order = select.args.get("order")
    all_leaves = on_leaves + where_leaves + having_leaves

    component1 = (
        bool(where)
        + bool(group_keys)
        + bool(order and order.expressions)
        + bool(select.args.get("limit"))
        + len(select.args.get("joins") or [])
        + on_ors
        + where_ors
        + having_ors
        + sum(isinstance(_unnegated(leaf), exp.Like) for leaf in all_leaves)
    )

    component2 = set_ops + sum(_subquery_values(leaf) for leaf in all_leaves)
    component2 += len(tree.args["with_"].expressions) if tree.args.get("with_") else 0
    component2 += sum(
        bool(item.find(exp.Subquery)) for item in select.expressions if not _is_spider_agg(item)
    )

    aggregates = (
        sum(_is_spider_agg(item) for item in select.expressions)
        + sum(_negated(leaf) for leaf in where_leaves)
        + _order_aggregates(order)
        # Spider's has_agg over the HAVING list: NOT-conditions and the AND/OR strings count.
        + sum(_negated(leaf) for leaf in having_leaves)
        + max(len(having_leaves) - 1, 0)
    )
    others = (
        (aggregates > 1)
        + (len(select.expressions) > 1)
        + (len(where_leaves) > 1)
        + (group_keys > 1)
    )
    return HardnessCounts(component1=component1, component2=component2, others=others)


def _main_select(tree: exp.Expression) -> tuple[exp.Select | None, int]:
    """The leftmost SELECT and whether a set operation (UNION/INTERSECT/EXCEPT) sits on top."""
    node = tree
    set_ops = 0
    while True:
        if isinstance(node, exp.SetOperation):
            set_ops = 1
            node = node.this
        elif isinstance(node, exp.Subquery):
            node = node.this
        else:
            break
    return (node if isinstance(node, exp.Select) else None), set_ops


def _flatten_all(conditions: list[exp.Expression]) -> tuple[list[exp.Expression], int]:
    leaves: list[exp.Expression] = []
    ors = 0
    for condition in conditions:
        ors += _flatten(condition, leaves)
    return leaves, ors


def _flatten(node: exp.Expression, leaves: list[exp.Expression]) -> int:
    """Append the leaf conditions of an AND/OR tree to `leaves`; return the number of ORs."""
    if isinstance(node, exp.Paren):
        return _flatten(node.this, leaves)
    if isinstance(node, (exp.And, exp.Or)):
        ors = isinstance(node, exp.Or)
        return ors + _flatten(node.this, leaves) + _flatten(node.expression, leaves)
    leaves.append(node)
    return 0


def _negated(leaf: exp.Expression) -> bool:
    """Spider's not_op: `x NOT IN/LIKE/BETWEEN ...`; `IS NOT NULL` is the `is` operator."""
    return isinstance(leaf, exp.Not) and not isinstance(leaf.this, exp.Is)


def _unnegated(leaf: exp.Expression) -> exp.Expression:
    return leaf.this if isinstance(leaf, exp.Not) else leaf


def _subquery_values(leaf: exp.Expression) -> int:
    """How many operands of a condition are subqueries (Spider's val1/val2 that are dicts)."""
    node = _unnegated(leaf)
    if isinstance(node, exp.Exists):
        return 1
    count = 0
    for value in node.args.values():
        for child in value if isinstance(value, list) else [value]:
            while isinstance(child, exp.Paren):
                child = child.this
            count += isinstance(child, (exp.Subquery, exp.Select))
    return count


def _is_spider_agg(node: exp.Expression) -> bool:
    return isinstance(node.unalias(), _SPIDER_AGGS)


def _order_aggregates(order: exp.Order | None) -> int:
    """Aggregates among the (at most two) operands of each ORDER BY value, as Spider counts."""
    if not order:
        return 0
    count = 0
    for ordered in order.expressions:
        value = ordered.this
        while isinstance(value, exp.Paren):
            value = value.this
        operands = [value.this, value.expression] if isinstance(value, _ARITHMETIC) else [value]
        count += sum(_is_spider_agg(operand) for operand in operands)
    return count
