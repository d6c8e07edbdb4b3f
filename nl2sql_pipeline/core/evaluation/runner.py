"""Score predictions by execution, fast: worker processes, reused connections, enforced timeouts.

Every query (gold and predicted) runs on the read-only executor, whose per-query deadline is
enforced inside the engine (SQLite's progress handler, PostgreSQL's statement_timeout, MariaDB's
max_statement_time), so one pathological prediction costs at most `timeout_s`. On SQLite every
query is gated by SQLite's own authorizer (`engine_gate`): the sqlglot gate's parse was more
than half of an item's time. A gold query is parsed (for labels only) when its hardness label
or its tie probe needs the tree, once for both.

Speed comes from (measured in benchmarks/bench_evaluation.py):
- one connection per database and worker, reused for every query;
- each distinct query runs once per worker and call (base and adapter share their gold results;
  a prediction equal to its gold reuses the gold's result);
- work sorted by database and gold query and cut into chunks, spread over worker processes.

With neighbour databases (`DatabaseTarget.neighbours`), a prediction that matches on the
database is run on every neighbour too and matches only if it matches on all of them
(test-suite accuracy); `single_db_match` keeps the one-database verdict beside it.
Gold queries that cannot judge (`hygiene`) are flagged on the verdict.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel
from sqlglot import exp
from sqlglot.errors import SqlglotError

from nl2sql_pipeline.core.audit import AuditTarget, audited
from nl2sql_pipeline.core.evaluation.compare import (
    Semantics,
    gold_orders,
    results_match,
    spider_postprocess,
    strip_distinct,
)
from nl2sql_pipeline.core.evaluation import hygiene, suite
from nl2sql_pipeline.core.evaluation.bird import soft_f1
from nl2sql_pipeline.core.evaluation.extract import extract
from nl2sql_pipeline.core.evaluation.workers import pool as worker_pool
from nl2sql_pipeline.core.evaluation.workers import shutdown as stop_workers
from nl2sql_pipeline.core.execution import ExecutionResult, ReadOnlyExecutor, quick_parse
from nl2sql_pipeline.core.hardness import HardnessError, hardness_counts, parse_leniently
from nl2sql_pipeline.core.predictions import PredictionItem, PredictionRuns

PredError = Literal["rejected", "syntax", "timeout", "runtime", "truncated", "empty", "unsafe"]


class DatabaseTarget(BaseModel):
    """Where a database id's queries run: a SQLAlchemy URL and its sqlglot dialect."""

    url: str
    dialect: str
    neighbours: list[str] = []  # URLs of neighbour databases (same schema)
    neighbour_dialect: str | None = None  # their dialect when not the database's (SQLite copies of a server)


class EvalOptions(BaseModel):
    semantics: Semantics = "test-suite"
    strip_distinct: bool = False  # Spider's default; ours keeps DISTINCT
    timeout_s: float = 5.0
    row_cap: int = 100_000  # results are compared in full: a truncated result is a failure
    workers: int = 0  # 0: one per CPU; 1: in this process
    keep_warm: bool = False  # keep worker processes and connections for the next call
    engine_gate: bool = True  # SQLite: queries gated by the engine's authorizer, not a sqlglot parse
    gold_hygiene: bool = True  # flag empty / tie-dependent gold (one extra query per ORDER BY ... LIMIT gold)
    ves_repeats: int = 0  # extra timings of gold and prediction per matched item for R-VES (0: one timing)
    audit: AuditTarget | None = None  # record every statement run (core/audit.py)


class ItemVerdict(BaseModel):
    """How one prediction fared; `executable` is False when the gold query itself fails."""

    run: str
    index: int
    db_id: str
    hardness: str | None = None
    topic: str | None = None
    pred_sql: str
    syntax_ok: bool  # sqlglot parses it in the database's dialect and the database agrees
    executed: bool  # the predicted query ran to completion within the limits
    match: bool
    both_empty: bool = False  # matched because both results are empty (a weak match)
    executable: bool = True
    pred_error: PredError | None = None
    error: str | None = None  # the failure's message (the gold's when not executable)
    pred_elapsed_s: float = 0.0
    gold_elapsed_s: float = 0.0
    gold_flag: hygiene.GoldFlag | None = None  # the gold cannot judge: kept out of the headline
    single_db_match: bool | None = None  # the match on the database alone (None: not judged)
    neighbours_checked: int = 0  # neighbours the prediction was also run on
    soft_f1: float | None = None  # BIRD's Soft-F1 of the results (0-1)
    ves_reward: float | None = None  # BIRD's R-VES reward (0 unless matched)


_Task = tuple[int, str, PredictionItem]  # (position in the caller's list, run label, item)

# Per-process state: worker processes keep their connections between chunks (and, with
# keep_warm, between calls); query results live for one call, since databases may change.
_EXECUTORS: dict[tuple[str, str, float, int, bool], ReadOnlyExecutor] = {}
_RESULTS: dict[tuple[str, str], ExecutionResult] = {}
_RESULTS_CALL: list[int] = [0]
# Predicted results are kept for reuse (a prediction equal to its gold, or to the other run's
# prediction, runs once) only when small; gold results are always kept.
_KEEP_PRED_ROWS = 1000
# An evaluation checks a text again only right after (its hardness label, R-VES timings):
# a few verdicts per executor are enough. Thousands of kept trees made every full garbage
# collection in a worker cost more than the parses they saved (2 workers on spider-de, same
# minutes: 3,930-4,330 items/s keeping 4,096, 4,710-4,800 keeping 8).
_KEPT_VERDICTS = 8
_HARDNESS: dict[tuple[str, str], str | None] = {}
# The last gold parsed (the work is sorted by gold): its hardness and tie probe share the parse.
_GOLD_TREE: list = [None, None]
_GOLD_FLAGS: dict[tuple[str, str], hygiene.GoldFlag | None] = {}
_CALLS = itertools.count(1)


def evaluate_runs(
    runs: PredictionRuns, targets: Mapping[str, DatabaseTarget], options: EvalOptions | None = None
) -> dict[str, list[ItemVerdict]]:
    """Verdicts per run label, items in their original order."""
    tasks = [(run.label, item) for run in runs.runs for item in run.items]
    verdicts = evaluate_items(tasks, targets, options or EvalOptions())
    out: dict[str, list[ItemVerdict]] = {run.label: [] for run in runs.runs}
    for verdict in verdicts:
        out[verdict.run].append(verdict)
    return out


def evaluate_items(
    tasks: Sequence[tuple[str, PredictionItem]], targets: Mapping[str, DatabaseTarget], options: EvalOptions
) -> list[ItemVerdict]:
    """Verdicts for (run label, item) pairs, in the order given."""
    numbered: list[_Task] = [(i, label, item) for i, (label, item) in enumerate(tasks)]
    # Same database and gold query together: connections and gold results are reused.
    numbered.sort(key=lambda t: (t[2].database, t[2].gold_sql))
    workers = options.workers or os.cpu_count() or 1
    workers = max(1, min(workers, len(numbered) // 64 or 1))
    targets = dict(targets)
    call = next(_CALLS)
    results: list[ItemVerdict | None] = [None] * len(numbered)
    try:
        if workers == 1:
            for position, verdict in _run_chunk(call, numbered, targets, options):
                results[position] = verdict
        else:
            # Four chunks per worker: chunks differ in cost (database, query), and with two a
            # worker that drew the cheap ones sat idle at the end (spider-de, 2 workers on a
            # quiet machine: 4,050-4,630 -> 4,980-5,030 items/s).
            size = max(16, min(2048, -(-len(numbered) // (workers * 4))))
            chunks = [numbered[i : i + size] for i in range(0, len(numbered), size)]
            # Each chunk carries only its own databases' targets (pickled with every chunk).
            chunk_targets = [{db: targets[db] for db in {t[2].database for t in chunk} if db in targets} for chunk in chunks]
            pool = worker_pool(workers)
            for chunk_result in pool.map(_run_chunk, [call] * len(chunks), chunks, chunk_targets, [options] * len(chunks)):
                for position, verdict in chunk_result:
                    results[position] = verdict
    finally:
        if not options.keep_warm:
            shutdown()
    return [v for v in results if v is not None]


def shutdown() -> None:
    """Stop kept-warm worker processes and close this process's connections."""
    stop_workers()
    for executor in _EXECUTORS.values():
        executor.close()
    _EXECUTORS.clear()
    _RESULTS.clear()
    _GOLD_FLAGS.clear()
    _GOLD_TREE[:] = [None, None]


def _run_chunk(
    call: int, tasks: Sequence[_Task], targets: Mapping[str, DatabaseTarget], options: EvalOptions
) -> list[tuple[int, ItemVerdict]]:
    if _RESULTS_CALL[0] != call:
        _RESULTS.clear()
        _GOLD_FLAGS.clear()
        _RESULTS_CALL[0] = call
    return [(position, _judge_safely(label, item, targets, options)) for position, label, item in tasks]


def _judge_safely(label: str, item: PredictionItem, targets: Mapping[str, DatabaseTarget], options: EvalOptions) -> ItemVerdict:
    """One item's verdict; whatever its untrusted text does to a parser is that item's failure."""
    try:
        return _judge(label, item, targets, options)
    except Exception as err:  # noqa: BLE001 - RecursionError and MemoryError included
        return ItemVerdict(run=label, index=item.index, db_id=item.database, topic=item.topic, pred_sql=item.output[:2000],
                           syntax_ok=False, executed=False, match=False, pred_error="rejected",
                           error=f"the prediction could not be evaluated ({type(err).__name__})")


def _executor(target: DatabaseTarget, options: EvalOptions) -> ReadOnlyExecutor:
    key = (target.url, target.dialect, options.timeout_s, options.row_cap, options.engine_gate)
    executor = _EXECUTORS.get(key)
    if executor is None:
        executor = ReadOnlyExecutor(target.url, target.dialect, timeout_s=options.timeout_s, row_cap=options.row_cap,
                                    kept_verdicts=_KEPT_VERDICTS, engine_gate=key[-1])
        _EXECUTORS[key] = executor
    return executor


def _gold_tree(executor: ReadOnlyExecutor, gold_sql: str) -> exp.Expression | None:
    """A parse of a gold text, for labels only (read it, never change it): the tree the parse
    gate kept when it ran the text, else the lenient reading (within the gate's limits)."""
    key = (gold_sql, executor.dialect)
    if _GOLD_TREE[0] != key:
        tree = None if executor.engine_gate else executor.checked(gold_sql)[0]
        if tree is None:
            try:
                tree = parse_leniently(gold_sql, executor.dialect)
            except SqlglotError:
                tree = None
        _GOLD_TREE[:] = [key, tree]
    return _GOLD_TREE[1]


def _own_gold_tree(executor: ReadOnlyExecutor, gold_sql: str) -> exp.Expression | None:
    """`_gold_tree` for a caller that changes it (the tie probe): the lenient parse is handed
    over and forgotten (a copy cost as much as a parse); the parse gate's shared tree is copied."""
    tree = _gold_tree(executor, gold_sql)
    if tree is not None and not executor.engine_gate:
        return tree.copy()
    _GOLD_TREE[:] = [None, None]
    return tree


def _hardness(executor: ReadOnlyExecutor, gold_sql: str) -> str | None:
    key = (gold_sql, executor.dialect)
    if key not in _HARDNESS:
        tree = _gold_tree(executor, gold_sql)
        try:
            _HARDNESS[key] = hardness_counts(tree).level if tree is not None else None
        except HardnessError:
            _HARDNESS[key] = None
    return _HARDNESS[key]


def _execute(executor: ReadOnlyExecutor, target: DatabaseTarget, sql: str, *, keep: bool) -> ExecutionResult:
    """The query's result, run at most once per call and process (read-only databases)."""
    result = _RESULTS.get((target.url, sql))
    if result is None:
        result = executor.execute(sql)
        if keep or result.row_count <= _KEEP_PRED_ROWS:
            _RESULTS[(target.url, sql)] = result
    return result


# What counts as a SQL statement. sqlglot also reads bare expressions ("T T" is a column with
# an alias, "T" a column), which untrained models emit and which are not valid SQL.
_STATEMENTS = tuple(
    getattr(exp, name)
    for name in ("Query", "DML", "DDL", "Transaction", "Commit", "Rollback", "Pragma", "Set", "Use", "Attach", "Detach",
                 "Copy", "Describe", "Show")
    if hasattr(exp, name)
)


def _parses(sql: str, dialect: str) -> bool:
    """Whether sqlglot reads `sql` as SQL statements (a refused DELETE is one; prose, which
    sqlglot keeps as an opaque Command or a bare expression, is not)."""
    statements = quick_parse(sql, dialect)  # within the gate's limits: no RecursionError, no crash
    return bool(statements) and all(isinstance(s, _STATEMENTS) for s in statements)


def _prepare(sql: str, options: EvalOptions, dialect: str) -> str:
    sql = spider_postprocess(sql)
    return strip_distinct(sql, dialect) if options.strip_distinct else sql


def _run_on(options: EvalOptions, database: str) -> suite.Run:
    def run(url: str, dialect: str, sql: str, keep: bool) -> ExecutionResult:
        target = DatabaseTarget(url=url, dialect=dialect)
        return _execute(audited(_executor(target, options), options.audit, database), target, sql, keep=keep)

    return run


def _gold_flag(target: DatabaseTarget, gold_sql: str, gold: ExecutionResult, options: EvalOptions,
               database: str) -> hygiene.GoldFlag | None:
    key = (target.url, gold_sql)
    if key not in _GOLD_FLAGS:
        executor = _executor(target, options)
        _GOLD_FLAGS[key] = suite.gold_flag(_run_on(options, database), target.url, target.dialect, target.neighbours,
                                           target.neighbour_dialect or target.dialect, gold_sql, gold,
                                           check_hygiene=options.gold_hygiene, tree=lambda: _own_gold_tree(executor, gold_sql))
    return _GOLD_FLAGS[key]


def _judge(label: str, item: PredictionItem, targets: Mapping[str, DatabaseTarget], options: EvalOptions) -> ItemVerdict:
    extraction = extract(item.output)
    pred_sql = extraction.sql
    target = targets.get(item.database)
    verdict = ItemVerdict(
        run=label, index=item.index, db_id=item.database, topic=item.topic, pred_sql=pred_sql,
        hardness=item.hardness, syntax_ok=False, executed=False, match=False,
    )
    if target is None:
        verdict.executable, verdict.error = False, f"no database {item.database!r} to run on"
        verdict.gold_flag = "fails"
        return verdict
    executor = audited(_executor(target, options), options.audit, item.database)
    gold_sql = _prepare(item.gold_sql, options, target.dialect)
    gold = _execute(executor, target, gold_sql, keep=True)
    verdict.hardness = verdict.hardness or _hardness(_executor(target, options), item.gold_sql)
    verdict.gold_elapsed_s = gold.elapsed_s
    verdict.gold_flag = _gold_flag(target, gold_sql, gold, options, item.database)
    if not gold.ok or gold.truncated:
        verdict.executable = False
        verdict.error = f"gold query failed: {gold.error}" if not gold.ok else f"gold result exceeds row_cap={options.row_cap}"
    if extraction.unsafe:
        verdict.pred_error, verdict.error = "unsafe", extraction.unsafe
        verdict.syntax_ok = _parses(pred_sql, target.dialect)
        verdict.single_db_match, verdict.soft_f1, verdict.ves_reward = False, 0.0, 0.0
        return verdict
    if not pred_sql.strip():
        verdict.pred_error, verdict.error = "empty", verdict.error or "no SQL in the model output"
        return verdict
    pred_sql_run = _prepare(pred_sql, options, target.dialect)
    pred = _execute(executor, target, pred_sql_run, keep=False)
    verdict.pred_elapsed_s = pred.elapsed_s
    verdict.syntax_ok = pred.error_kind != "syntax" and (pred.error_kind != "rejected" or _parses(pred_sql, target.dialect))
    if not pred.ok:
        verdict.pred_error, verdict.error = pred.error_kind, verdict.error or pred.error
        return verdict
    verdict.executed = True
    if pred.truncated:
        verdict.pred_error = "truncated"
        verdict.error = verdict.error or f"predicted result exceeds row_cap={options.row_cap}"
        return verdict
    if verdict.executable:
        verdict.match = results_match(
            gold.rows, pred.rows, order_matters=gold_orders(gold_sql), semantics=options.semantics
        )
        verdict.both_empty = verdict.match and not gold.rows and not pred.rows
        verdict.single_db_match = verdict.match
        verdict.soft_f1 = soft_f1(pred.rows, gold.rows)
        if verdict.match and target.neighbours:
            verdict.match, verdict.neighbours_checked = suite.on_neighbours(
                _run_on(options, item.database), target.dialect, target.neighbours, target.neighbour_dialect or target.dialect,
                gold_sql, pred_sql_run, options.semantics)
        verdict.ves_reward = suite.ves(executor.execute, gold_sql, pred_sql_run, gold, pred, repeats=options.ves_repeats,
                                       timeout_s=options.timeout_s) if verdict.match else 0.0
    return verdict
