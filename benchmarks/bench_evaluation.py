"""Evaluation benchmark (issue 5): the 978 executable spider-de gold queries against a perturbed
prediction set (drop ORDER BY, swap columns, change a literal, add DISTINCT, or unchanged).

Compared in the same run: a naive evaluator as the reference design's and Spider's exec loop
(serial, a new SQLite connection per query, gold re-run for every item) and our runner
(read-only executor with its enforced per-query timeout, reused connections, gold reuse) with
1 and 2 worker processes. Target: >= 5,000 items/s on 2 cores after start-up, verdicts unchanged.

Each contender and round gets texts of its own (extra spaces after the first word, which neither
the engines nor the extraction read), so what a process keeps per query text (the gate's
verdicts, hardness labels, tie probes) is computed afresh, as in a new evaluation: a round
measures a first evaluation, not a replay of strings seen in the round before.

    .venv/bin/python benchmarks/bench_evaluation.py [--data ../shared/data/spider-de] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import time
from pathlib import Path

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.compare import gold_orders, results_match
from nl2sql_pipeline.core.evaluation.extract import extract_sql
from nl2sql_pipeline.core.evaluation.inputs import GoldItem, read_gold, spider_db_path
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_items
from nl2sql_pipeline.core.predictions import PredictionItem

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "nl2sql_pipeline_tests" / "data" / "spider_de"


def perturb(sql: str, rng: random.Random) -> str:
    """One hand-made mistake per item (one in five left unchanged), chosen at random (seeded)."""
    if rng.random() < 0.2:
        return sql
    kinds = ["drop_order", "swap", "literal", "distinct"]
    rng.shuffle(kinds)
    for kind in kinds:  # the first kind that applies to this query
        if kind == "drop_order" and re.search(r"\border by\b", sql, re.I):
            return re.sub(r"\s+order by\s+[^)]*?(?=\s+limit\b|$)", "", sql, count=1, flags=re.I)
        if kind == "swap":
            m = re.match(r"(?is)select\s+(distinct\s+)?([^,()]+?)\s*,\s*([^,()]+?)(\s*,|\s+from\b)", sql)
            if m:
                return sql[: m.start(2)] + m.group(3) + " , " + m.group(2) + sql[m.end(3) :]
        if kind == "literal" and re.search(r"\b\d+\b", sql):
            return re.sub(r"\b(\d+)\b", lambda n: str(int(n.group(1)) + 1), sql, count=1)
        if kind == "distinct" and not re.search(r"\bdistinct\b", sql, re.I):
            return re.sub(r"(?i)^select\b", "SELECT DISTINCT", sql.strip(), count=1)
    return sql


def respace(sql: str, extra: int) -> str:
    """The same query with `extra` more spaces after its first word: a new text, the same SQL."""
    return sql.replace(" ", " " * (extra + 1), 1)


def naive(items: list[PredictionItem], db_dir: Path) -> list[bool]:
    """The reference design's loop: per item, open a connection, run gold and prediction, compare."""
    verdicts = []
    for item in items:
        path = spider_db_path(db_dir, item.database)
        results = []
        for sql in (item.gold_sql, extract_sql(item.output)):
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                results.append(conn.execute(sql).fetchall())
            except sqlite3.Error:
                results.append(None)
            finally:
                conn.close()
        gold, pred = results
        verdicts.append(pred is not None and results_match(gold, pred, order_matters=gold_orders(item.gold_sql)))
    return verdicts


def bare_execution(items: list[PredictionItem], connections: dict[str, sqlite3.Connection]) -> None:
    """The limit to approach, as the issue states it: the same gold and predicted queries merely
    executed, serially, over one reused connection per database (no comparison, no timeout)."""
    for item in items:
        conn = connections[item.database]
        for sql in (item.gold_sql, item.output):
            try:
                conn.execute(sql).fetchall()
            except sqlite3.Error:
                pass


def executable_gold(gold: list[GoldItem], db_dir: Path) -> list[GoldItem]:
    keep = []
    for g in gold:
        conn = sqlite3.connect(f"file:{spider_db_path(db_dir, g.database)}?mode=ro", uri=True)
        try:
            conn.execute(g.gold_sql).fetchall()
            keep.append(g)
        except sqlite3.Error:
            pass
        finally:
            conn.close()
    return keep


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    db_dir = args.data / "database"
    gold = executable_gold(read_gold(args.data / "dev_gold.sql"), db_dir)
    rng = random.Random(5)
    items = [PredictionItem(index=i, database=g.database, question="", gold_sql=g.gold_sql, output=perturb(g.gold_sql, rng))
             for i, g in enumerate(gold)]
    targets = {db: DatabaseTarget(url=sqlite_url(spider_db_path(db_dir, db), read_only=True).render_as_string(), dialect="sqlite")
               for db in {g.database for g in gold}}
    # One text set per contender and round (0: start-up), built before any timing.
    n_contenders = 4
    rounds = [[[it.model_copy(update={"gold_sql": respace(it.gold_sql, pad), "output": respace(it.output, pad)})
                for it in items] for pad in range(r * n_contenders, (r + 1) * n_contenders)]
              for r in range(args.repeat + 1)]

    def ours(batch: list[PredictionItem], workers: int) -> list[bool]:
        options = EvalOptions(timeout_s=args.timeout, workers=workers, keep_warm=True)
        return [v.match for v in evaluate_items([("pred", item) for item in batch], targets, options)]

    connections = {db: sqlite3.connect(f"file:{spider_db_path(db_dir, db)}?mode=ro", uri=True) for db in targets}
    limit = "bare execution, reused connections, 1 core"
    contenders = {limit: lambda batch: bare_execution(batch, connections),
                  "naive (new connection per query, serial)": lambda batch: naive(batch, db_dir),
                  "runner, 1 worker": lambda batch: ours(batch, 1), "runner, 2 workers": lambda batch: ours(batch, 2)}
    ours(rounds[0][2], 1), ours(rounds[0][3], 2)  # start-up: imports, worker processes, first connections, page cache
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    verdicts: dict[str, list[bool]] = {}
    for r in range(1, args.repeat + 1):  # in turns, so that load changes on a shared machine hit all alike
        for c, (name, fn) in enumerate(contenders.items()):
            batch = rounds[r][c]
            started, cpu_started = time.perf_counter(), time.process_time()
            verdicts[name] = fn(batch) or []
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)

    reference = verdicts["naive (new connection per query, serial)"]
    base = statistics.median(times["naive (new connection per query, serial)"])
    print(f"{len(items)} items, {sum(reference)} matches (naive), timeout {args.timeout} s, median of {args.repeat}")
    # On a shared machine wall time swings with others' load; CPU time of this process is steadier
    # (it misses the worker processes' time, so it is shown only for in-process evaluators).
    print(f"{'evaluator':44} {'seconds':>8} {'items/s':>9} {'vs naive':>9} {'items/cpu-s':>12} {'same verdicts':>14}")
    for name, samples in times.items():
        seconds = statistics.median(samples)
        per_cpu = f"{len(items) / statistics.median(cpu[name]):12.0f}" if "2 workers" not in name else f"{'-':>12}"
        same = "-" if name == limit else str(verdicts[name] == reference)
        print(f"{name:44} {seconds:8.3f} {len(items) / seconds:9.0f} {base / seconds:8.1f}x {per_cpu} {same:>14}")
    # The figures came from a slower machine (limit ~8,300 items/s, target 5,000 on 2 cores):
    # the share of the limit carries the target to any machine.
    share = statistics.median(times[limit]) / statistics.median(times["runner, 2 workers"])
    print(f"\nrunner on 2 workers reaches {share:.2f} of the one-core bare-execution limit "
          f"(the issue's target: 5,000 / 8,300 = 0.60)")


if __name__ == "__main__":
    main()
