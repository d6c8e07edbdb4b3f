"""Test-suite accuracy benchmark: what neighbour databases cost and what they catch, on spider-de.

In one run:
1. build: time to build (fuzz, then distil) N neighbours for each of spider-de's 20 databases,
   cold (empty working folder) and warm (the versioned copies reused);
2. throughput: the runner on the 978 executable gold queries against bench_evaluation.py's
   perturbed prediction set, with N=0 (one database, today's verdicts) and with N neighbours,
   2 worker processes, median of --repeat interleaved rounds;
3. accidental accepts: perturbed predictions (a changed literal, an added DISTINCT, a dropped
   LIMIT or ORDER BY, DESC turned ASC; each differs from its gold's text) that single-database
   execution match accepts, and the share of them the neighbours reject; the same on the
   hand-checked corpus of semantically different near-misses in the tests' data.

    .venv/bin/python benchmarks/bench_test_suite.py [--data ../shared/data/spider-de] [--n 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bench_evaluation import DEFAULT_DATA, executable_gold, perturb  # noqa: E402

from nl2sql_pipeline.core.connection import sqlite_url  # noqa: E402
from nl2sql_pipeline.core.evaluation.inputs import read_gold, spider_db_path  # noqa: E402
from nl2sql_pipeline.core.evaluation.neighbours import with_neighbours  # noqa: E402
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_items, shutdown  # noqa: E402
from nl2sql_pipeline.core.predictions import PredictionItem  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "nl2sql_pipeline_tests" / "data" / "neighbour_perturbations.yaml"


def near_misses(sql: str) -> list[str]:
    """Every one of the five mistakes that applies to `sql` (the issue's perturbation kinds)."""
    out = []
    number = re.search(r"\b(\d+)\b", sql)
    if number:
        out.append(sql[: number.start()] + str(int(number.group(1)) + 1) + sql[number.end() :])
    if not re.search(r"\bdistinct\b", sql, re.I):
        out.append(re.sub(r"(?i)^select\b", "SELECT DISTINCT", sql.strip(), count=1))
    if re.search(r"(?i)\blimit\s+\d+\s*;?\s*$", sql):
        out.append(re.sub(r"(?i)\s+limit\s+\d+\s*;?\s*$", "", sql))
    if re.search(r"(?i)\border by\b", sql) and not re.search(r"(?i)\blimit\b", sql):
        out.append(re.sub(r"(?i)\s+order by\s+.*$", "", sql))
    if re.search(r"(?i)\bdesc\b", sql):
        out.append(re.sub(r"(?i)\bdesc\b", "ASC", sql, count=1))
    return [p for p in out if p != sql]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    db_dir = args.data / "database"
    all_gold = read_gold(args.data / "dev_gold.sql")
    gold = executable_gold(all_gold, db_dir)
    targets = {db: DatabaseTarget(url=sqlite_url(spider_db_path(db_dir, db), read_only=True).render_as_string(), dialect="sqlite")
               for db in {g.database for g in all_gold}}
    by_db: dict[str, list[str]] = {}
    for g in all_gold:
        by_db.setdefault(g.database, []).append(g.gold_sql)

    workdir = Path(tempfile.mkdtemp(prefix="nl2sql_neighbours_"))
    try:
        started = time.perf_counter()
        suite_targets, built = with_neighbours(targets, by_db, args.n, workdir)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        with_neighbours(targets, by_db, args.n, workdir)
        warm = time.perf_counter() - started

        rng = random.Random(5)
        tasks = [("pred", PredictionItem(index=i, database=g.database, question="", gold_sql=g.gold_sql,
                                         output=perturb(g.gold_sql, rng))) for i, g in enumerate(gold)]
        options = EvalOptions(workers=2, keep_warm=True)
        runs = {"N=0 (one database)": targets, f"N={args.n} neighbours": suite_targets}
        for t in runs.values():
            evaluate_items(tasks, t, options)  # start-up: workers, connections, page cache
        times: dict[str, list[float]] = {name: [] for name in runs}
        verdicts: dict[str, list] = {}
        for _ in range(args.repeat):
            for name, t in runs.items():
                began = time.perf_counter()
                verdicts[name] = evaluate_items(tasks, t, options)
                times[name].append(time.perf_counter() - began)

        accidental = [("pred", PredictionItem(index=i, database=g.database, question="", gold_sql=g.gold_sql, output=p))
                      for i, (g, p) in enumerate((g, p) for g in gold for p in near_misses(g.gold_sql))]
        plain = evaluate_items(accidental, targets, options)
        suite = evaluate_items(accidental, suite_targets, options)
        corpus = yaml.safe_load(CORPUS.read_text("utf-8"))
        hand = [("pred", PredictionItem(index=i, database=c["db_id"], question="", gold_sql=c["gold"], output=c["pred"]))
                for i, c in enumerate(corpus)]
        hand_suite = evaluate_items(hand, suite_targets, options)
    finally:
        shutdown()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"neighbours: N={args.n} for {len(built)} databases ({sum(len(b.paths) for b in built)} copies from "
          f"{sum(b.candidates for b in built)} candidates); build cold {cold:.1f} s, warm (reused) {warm:.2f} s")
    print(f"near-miss variants probed: {sum(b.variants for b in built)}; told apart by the databases alone "
          f"{sum(b.caught_by_source for b in built)}; of the rest, by the neighbours "
          f"{sum(b.caught_by_neighbours for b in built)} of {sum(b.variants - b.caught_by_source for b in built)}")
    print(f"\n{len(tasks)} items (bench_evaluation's perturbed set), 2 workers, median of {args.repeat}")
    print(f"{'evaluator':28} {'seconds':>8} {'items/s':>9} {'matches':>8} {'single-db matches':>18}")
    for name, samples in times.items():
        seconds = statistics.median(samples)
        matched = sum(v.match for v in verdicts[name] if v.executable and v.gold_flag is None)
        single = sum(bool(v.single_db_match) for v in verdicts[name] if v.executable and v.gold_flag is None)
        print(f"{name:28} {seconds:8.3f} {len(tasks) / seconds:9.0f} {matched:8} {single:18}")
    same = [v.match for v in verdicts["N=0 (one database)"]] == [bool(v.single_db_match) for v in verdicts[f"N={args.n} neighbours"]]
    print(f"single-database verdicts identical with and without neighbours: {same}")

    accepted = [(p, s) for p, s in zip(plain, suite) if p.executable and p.gold_flag is None and p.match]
    removed = sum(not s.match for _, s in accepted)
    added = sum(s.match and not p.match for p, s in zip(plain, suite))
    print(f"\naccidental accepts: {len(accepted)} of {len(accidental)} perturbed predictions match on the database alone; "
          f"neighbours reject {removed} ({removed / max(1, len(accepted)):.0%}); matches added: {added}")
    caught = sum(not v.match for v in hand_suite)
    print(f"hand-checked corpus of semantically different near-misses: {caught} of {len(hand)} rejected "
          f"({caught / len(hand):.0%}); single-database EX accepts all of them")


if __name__ == "__main__":
    main()
