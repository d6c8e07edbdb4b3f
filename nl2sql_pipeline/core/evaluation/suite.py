"""What a judged item gets beyond one execution match: its gold's hygiene flag, the verdict on
the neighbour databases (test-suite accuracy) and its R-VES reward.

The runner owns connections and result caches; these functions only take a `Run` that executes
a query on a database (url, dialect) and may reuse an earlier result (`keep`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlglot
from sqlglot.errors import SqlglotError

from nl2sql_pipeline.core.evaluation import hygiene
from nl2sql_pipeline.core.evaluation.bird import time_ratio, ves_reward
from nl2sql_pipeline.core.evaluation.compare import Semantics, gold_orders, results_match
from nl2sql_pipeline.core.execution import ExecutionResult

Run = Callable[[str, str, str, bool], ExecutionResult]  # (url, dialect, sql, keep) -> result


def gold_flag(run: Run, url: str, dialect: str, neighbours: Sequence[str], neighbour_dialect: str, gold_sql: str,
              gold: ExecutionResult, *, check_hygiene: bool,
              tree: Callable[[], Any] | None = None) -> hygiene.GoldFlag | None:
    """Why the gold cannot judge (None when it can). Gold empty on the database but not on a
    neighbour can: test-suite accuracy judges it there. `tree`: gives a parse of the gold that
    the tie probe may change, so it needs no parse of its own."""
    flag = hygiene.result_flag(gold)
    if flag == "empty" and not check_hygiene:
        return None
    if flag == "empty" and neighbours and any(run(n, neighbour_dialect, gold_sql, True).rows for n in neighbours):
        flag = None
    if flag is None and check_hygiene:
        if tree is None or not hygiene.may_tie(gold_sql):
            probe = hygiene.tie_probe(gold_sql, dialect)
        else:
            parsed = tree()
            probe = hygiene.probe_of(parsed, dialect) if parsed is not None else None
        # Fewer rows than the LIMIT: the whole result fits, there is no cut to tie at.
        if probe is not None and len(gold.rows) >= probe[1]:
            rows = run(url, dialect, probe[0], False)
            if rows.ok and hygiene.ties_at_cut(rows.rows, probe[1], probe[2]):
                flag = "tie-dependent"
    return flag


def on_neighbours(run: Run, dialect: str, neighbours: Sequence[str], neighbour_dialect: str, gold_sql: str, pred_sql: str,
                  semantics: Semantics) -> tuple[bool, int]:
    """Whether the prediction also matches on every neighbour (one where the gold itself fails
    or is cut off cannot judge and is skipped), and on how many it was run."""
    if neighbour_dialect != dialect:  # copies on another engine: both queries transpiled alike
        try:
            gold_sql, pred_sql = (sqlglot.transpile(q, read=dialect, write=neighbour_dialect)[0] for q in (gold_sql, pred_sql))
        except SqlglotError:
            return True, 0  # the copies cannot judge what sqlglot cannot carry over: the database's verdict stands
    checked = 0
    for url in neighbours:
        gold = run(url, neighbour_dialect, gold_sql, True)
        if not gold.ok or gold.truncated:
            continue
        checked += 1
        pred = run(url, neighbour_dialect, pred_sql, False)
        if not pred.ok or pred.truncated or not results_match(
            gold.rows, pred.rows, order_matters=gold_orders(gold_sql), semantics=semantics
        ):
            return False, checked
    return True, checked


def ves(fresh: Callable[[str], ExecutionResult], gold_sql: str, pred_sql: str, gold: ExecutionResult,
        pred: ExecutionResult, *, repeats: int, timeout_s: float) -> float:
    """R-VES reward of a matched item from its timings plus `repeats` fresh ones of both queries
    (stopping once they have spent one timeout)."""
    gold_times, pred_times = [gold.elapsed_s], [pred.elapsed_s]
    spent = 0.0
    for _ in range(repeats):
        if spent > timeout_s:
            break
        g, p = fresh(gold_sql), fresh(pred_sql)
        if not (g.ok and p.ok):
            break
        gold_times.append(g.elapsed_s)
        pred_times.append(p.elapsed_s)
        spent += g.elapsed_s + p.elapsed_s
    return ves_reward(time_ratio(gold_times, pred_times), True)
