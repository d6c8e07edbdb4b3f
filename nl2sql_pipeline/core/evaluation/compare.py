"""Do two query results denote the same answer? Three semantics, chosen per evaluation.

- "test-suite" (default): Spider's official test-suite evaluation (`exec_eval.result_eq`). Rows are
  a multiset; their order matters only when the gold SQL has ORDER BY; the prediction's columns
  may be a permutation of the gold's; values compare as the database returns them (1 == 1.0);
  two empty results match.
- "set": BIRD's `set(predicted) == set(gold)`: duplicates and row order ignored, columns in order.
- "ordered": strict: the same rows in the same order with the same column order.

>>> results_match([(1, "a"), (2, "b")], [("b", 2), ("a", 1)], order_matters=False)
True
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import product
from typing import Any, Literal

import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

Semantics = Literal["test-suite", "set", "ordered"]
SEMANTICS: tuple[Semantics, ...] = ("test-suite", "set", "ordered")
Row = Sequence[Any]

# Rows sampled to rule out column permutations before trying them (Spider samples 20 at random;
# the pruning only removes impossible permutations, so a fixed sample gives the same verdicts).
_PRUNE_SAMPLE = 20
_SPACED_OPS = re.compile(r"([><!])\s+=")


def results_match(
    gold: Sequence[Row], pred: Sequence[Row], *, order_matters: bool, semantics: Semantics = "test-suite"
) -> bool:
    """Whether the predicted rows denote the gold rows under `semantics`."""
    if semantics == "set":
        return {tuple(r) for r in gold} == {tuple(r) for r in pred}
    if semantics == "ordered":
        return [tuple(r) for r in gold] == [tuple(r) for r in pred]
    return _test_suite_equal(gold, pred, order_matters)


def gold_orders(gold_sql: str) -> bool:
    """Spider's rule for when row order matters: the gold SQL text contains "order by"."""
    return "order by" in gold_sql.lower()


def spider_postprocess(sql: str) -> str:
    """Spider's exec_eval.postprocess: `> =` -> `>=` (and `<`, `!`), applied to both queries."""
    return _SPACED_OPS.sub(r"\1=", sql)


def strip_distinct(sql: str, dialect: str = "sqlite") -> str:
    """Remove every DISTINCT keyword, as Spider's evaluation does unless --keep_distinct."""
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError:
        return re.sub(r"\bdistinct\b", "", sql, flags=re.I)
    for token in reversed([t for t in tokens if t.token_type == TokenType.DISTINCT]):
        sql = sql[: token.start] + sql[token.end + 1 :]
    return sql


def _unorder_row(row: Row) -> tuple:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _test_suite_equal(gold: Sequence[Row], pred: Sequence[Row], order_matters: bool) -> bool:
    if not gold and not pred:
        return True
    if len(gold) != len(pred):
        return False
    width = len(gold[0])
    if len(pred[0]) != width:
        return False
    gold_rows = [tuple(r) for r in gold]
    pred_rows = [tuple(r) for r in pred]
    # The identity permutation is always a candidate (pruning only drops impossible ones), so
    # equal rows in gold column order settle the common case without the costly checks below.
    if gold_rows == pred_rows or (not order_matters and Counter(gold_rows) == Counter(pred_rows)):
        return True
    # Each row's bag of values must already agree, whatever the column order: rejects most.
    gold_bags = [_unorder_row(r) for r in gold_rows]
    pred_bags = [_unorder_row(r) for r in pred_rows]
    if (gold_bags != pred_bags) if order_matters else (set(gold_bags) != set(pred_bags)):
        return False
    if width == 1:
        return gold_rows == pred_rows if order_matters else Counter(gold_rows) == Counter(pred_rows)
    gold_counts = None if order_matters else Counter(gold_rows)
    for perm in _column_permutations(gold_rows, pred_rows, width):
        permuted = [tuple(row[i] for i in perm) for row in pred_rows]
        if order_matters:
            if permuted == gold_rows:
                return True
        elif Counter(permuted) == gold_counts:
            return True
    return False


def _column_permutations(gold: list[tuple], pred: list[tuple], width: int) -> Iterator[tuple[int, ...]]:
    """Candidate maps gold column -> pred column, pruned by values absent from a gold column."""
    allowed = [set(range(width)) for _ in range(width)]
    if width > 3:
        gold_columns = [{row[i] for row in gold} for i in range(width)]
        step = max(1, len(pred) // _PRUNE_SAMPLE)
        for row in pred[::step][:_PRUNE_SAMPLE]:
            for gold_col in range(width):
                allowed[gold_col] = {c for c in allowed[gold_col] if row[c] in gold_columns[gold_col]}
    for perm in product(*(sorted(a) for a in allowed)):
        if len(set(perm)) == width:
            yield perm
