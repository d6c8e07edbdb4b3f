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
from collections.abc import Sequence
from typing import Any, Literal

import sqlglot
from sqlglot.errors import SqlglotError
from sqlglot.tokens import TokenType

Semantics = Literal["test-suite", "set", "ordered"]
SEMANTICS: tuple[Semantics, ...] = ("test-suite", "set", "ordered")
Row = Sequence[Any]

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
    return _columns_map(gold_rows, pred_rows, width, order_matters)


# Partial assignments tried before giving up on a pathological result (every column holding the
# same values in a different arrangement); each costs one pass over the rows.
_SEARCH_BUDGET = 2_000


def _columns_map(gold: list[tuple], pred: list[tuple], width: int, order_matters: bool) -> bool:
    """Whether some map of gold columns to distinct pred columns makes the rows equal.

    Polynomial, never a walk over all width! permutations: with row order, a gold column must
    equal a pred column value for value, so matching is by whole columns. Without, a gold
    column's candidates are the pred columns with the same multiset of values; identical pred
    columns are interchangeable (tried once); a search over the remaining choices checks, after
    each choice, that the rows projected onto the columns chosen so far agree as multisets, and
    stops after _SEARCH_BUDGET steps (answering no match).
    """
    gold_cols = list(zip(*gold))
    pred_cols = list(zip(*pred))
    if order_matters:
        available = Counter(pred_cols)
        return all(available[col] >= n for col, n in Counter(gold_cols).items())
    distinct: dict[tuple, list[int]] = {}  # identical pred columns, tried once per slot
    for j, col in enumerate(pred_cols):
        distinct.setdefault(col, []).append(j)
    by_bag: dict[frozenset, list[tuple]] = {}
    for col in distinct:
        by_bag.setdefault(frozenset(Counter(col).items()), []).append(col)
    candidates = [by_bag.get(frozenset(Counter(col).items()), []) for col in gold_cols]
    if any(not c for c in candidates):
        return False
    order = sorted(range(width), key=lambda i: len(candidates[i]))
    left = {col: len(idx) for col, idx in distinct.items()}
    # Rows projected onto the columns chosen so far, as running hashes (one pass per step); the
    # final check compares the real rows, so a hash collision cannot make a false match.
    gold_keys: list[list[int]] = [[0] * len(gold)]
    pred_keys: list[list[int]] = [[0] * len(pred)]
    chosen: list[tuple] = []
    tried = [0] * (width + 1)
    steps, depth = 0, 0
    while True:
        if depth == width:
            if Counter(zip(*chosen)) == Counter(zip(*(gold_cols[i] for i in order))):
                return True
        else:
            options = candidates[order[depth]]
            while tried[depth] < len(options):
                col = options[tried[depth]]
                tried[depth] += 1
                if not left[col]:
                    continue
                steps += 1
                if steps > _SEARCH_BUDGET:
                    return False
                g = [hash((k, v)) for k, v in zip(gold_keys[-1], gold_cols[order[depth]])]
                p = [hash((k, v)) for k, v in zip(pred_keys[-1], col)]
                if Counter(g) == Counter(p):
                    left[col] -= 1
                    chosen.append(col)
                    gold_keys.append(g)
                    pred_keys.append(p)
                    depth += 1
                    tried[depth] = 0
                    break
            else:
                if depth == 0:
                    return False
                depth -= 1
                left[chosen.pop()] += 1
                gold_keys.pop()
                pred_keys.pop()
                continue
            continue
        # A full assignment that failed the exact check: step back and try the next choice.
        depth -= 1
        left[chosen.pop()] += 1
        gold_keys.pop()
        pred_keys.pop()
