"""Validation benchmark (issue 3).

1. Throughput on the spider-de gold set (1030 queries, 20 SQLite databases): a bare sqlglot parse
   (the baseline), layers 1+2 (parse + read-only gate + scope-based schema resolution, template,
   hardness), and layers 1+2+3 (plus execution on the read-only executor), measured in turns in
   the same run. Target: layers 1+2 >= 500 samples/s per core; the ratio to the bare parse is shown.
2. Deadlines: a deliberately endless query (recursive CTE, cartesian join) on each reachable
   engine must stop within 1.5x its time budget.

    OMP_NUM_THREADS=1 /work/venv/bin/python benchmarks/bench_validation.py [--repeat 3] [--budget 1.0]

PostgreSQL / MariaDB URLs: NL2SQL_TEST_PG_URL / NL2SQL_TEST_MYSQL_URL (defaults: this project's
machines); an unreachable server is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import sqlglot
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nl2sql_pipeline.core.config import DatabaseConfig  # noqa: E402
from nl2sql_pipeline.core.connection import sqlite_url  # noqa: E402
from nl2sql_pipeline.core.execution import ReadOnlyExecutor  # noqa: E402
from nl2sql_pipeline.core.samples import RawSamples, Sample  # noqa: E402
from nl2sql_pipeline.core.schema.catalog import read_schema  # noqa: E402
from nl2sql_pipeline.core.validation import validate_samples  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPIDER = next(p for p in (ROOT.parent / "shared" / "data" / "spider-de", ROOT / "nl2sql_pipeline_tests" / "data" / "spider_de")
              if (p / "dev.json").exists())
ENDLESS = {
    "recursive CTE": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r{extra}) SELECT count(*) FROM r",
    "cartesian join": "SELECT count(*) FROM orders a, orders b, orders c, orders d, orders e",
}


def load_gold() -> list[tuple[str, RawSamples, object, Path]]:
    items = json.loads((SPIDER / "dev.json").read_text(encoding="utf-8"))
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["db_id"], []).append(item)
    out = []
    for name, group in groups.items():
        path = SPIDER / "database" / name / f"{name}.sqlite"
        meta = read_schema(DatabaseConfig(name=name, url=f"sqlite:///{path}"))
        raw = RawSamples(database=name, dialect="sqlite", samples=[
            Sample(database=name, topic="gold", question=g["question"], sql=g["query"], language="en") for g in group
        ])
        out.append((name, raw, meta, path))
    return out


def bench_throughput(repeat: int) -> None:
    gold = load_gold()
    total = sum(len(raw) for _, raw, _, _ in gold)
    executors = {name: ReadOnlyExecutor(sqlite_url(path, read_only=True), "sqlite", timeout_s=30) for name, _, _, path in gold}

    def bare() -> int:
        return sum(1 for _, raw, _, _ in gold for s in raw.samples if _parse(s.sql))

    def layers12() -> int:
        return sum(sum(v.passed for v in validate_samples(raw, meta, None).items) for _, raw, meta, _ in gold)

    def layers123() -> int:
        return sum(sum(v.passed for v in validate_samples(raw, meta, executors[name]).items) for name, raw, meta, _ in gold)

    fns = {"bare sqlglot parse": bare, "layers 1+2": layers12, "layers 1+2+3": layers123}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    wall: dict[str, list[float]] = {k: [] for k in fns}
    results: dict[str, int] = {}
    for _ in range(repeat):  # in turns, so load changes on the shared machine hit all alike
        for label, fn in fns.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            results[label] = fn()
            cpu[label].append(time.process_time() - started_cpu)
            wall[label].append(time.perf_counter() - started)
    base = statistics.median(cpu["bare sqlglot parse"])
    print(f"\nThroughput on spider-de gold ({total} queries, {len(gold)} databases, median of {repeat}, one core;")
    print("CPU seconds of this process, so neighbours on a shared machine distort less than wall time)")
    print(f"{'variant':<20} {'cpu s':>7} {'wall s':>7} {'samples/cpu-s':>14} {'x bare parse':>13} {'passed':>7}")
    for label in fns:
        median = statistics.median(cpu[label])
        print(f"{label:<20} {median:>7.3f} {statistics.median(wall[label]):>7.3f} {total / median:>14.0f} "
              f"{median / base:>13.2f} {results[label]:>7}")
    rate12 = total / statistics.median(cpu["layers 1+2"])
    print(f"target layers 1+2 >= 500 samples/s per core: {'met' if rate12 >= 500 else 'NOT met'} ({rate12:.0f}/s)")
    import sqlglot.parser

    compiled = sqlglot.parser.__file__.endswith(".so")
    print(f"sqlglot compiled extension (sqlglot[c] / sqlglotc): {'in use' if compiled else 'not installed'}")
    for executor in executors.values():
        executor.close()


def _parse(sql: str) -> bool:
    try:
        return sqlglot.parse_one(sql, read="sqlite") is not None
    except sqlglot.errors.ParseError:
        return False


def _engines() -> list[tuple[str, str, str]]:
    """(label, url, dialect) of each engine with the sales_cn demo loaded (scratch databases)."""
    import tempfile

    from nl2sql_pipeline.demo import load_demo
    from nl2sql_pipeline_tests.servers import MYSQL_URL, PG_URL, _reachable

    folder = Path(tempfile.mkdtemp(prefix="bench_validation_"))
    path = folder / "sales_cn.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    load_demo(engine, "sales_cn")
    engine.dispose()
    found = [("SQLite", sqlite_url(path, read_only=True).render_as_string(hide_password=False), "sqlite")]
    for label, url, dialect in (("PostgreSQL", PG_URL, "postgres"), ("MariaDB", MYSQL_URL, "mysql")):
        if _reachable(url):
            found.append((label, url, dialect))
        else:
            print(f"{label}: not reachable at {sa.engine.make_url(url).render_as_string(hide_password=True)}, skipped")
    return found


def bench_deadlines(budget: float) -> None:
    from nl2sql_pipeline_tests.servers import scratch_database
    from nl2sql_pipeline.demo import load_demo

    print(f"\nEndless queries stop within 1.5x their budget ({budget:.2f} s)")
    print(f"{'engine':<11} {'query':<15} {'kind':<8} {'elapsed s':>9} {'x budget':>8} {'<= 1.5x':>7}")
    for label, url, dialect in _engines():
        if dialect == "sqlite":
            _deadline_rows(label, url, dialect, budget)
            continue
        with scratch_database(url, prefix="nl2sql_bench") as scratch:
            engine = sa.create_engine(scratch)
            load_demo(engine, "sales_cn")
            engine.dispose()
            _deadline_rows(label, scratch, dialect, budget)


def _deadline_rows(label: str, url: str, dialect: str, budget: float) -> None:
    with ReadOnlyExecutor(url, dialect, timeout_s=budget) as executor:
        executor.execute("SELECT 1")  # connect outside the measurement
        for name, template in ENDLESS.items():
            # MariaDB caps recursion at max_recursive_iterations: make each step expensive instead.
            sql = template.format(extra=", orders o WHERE n < 100000000" if dialect == "mysql" else "")
            result = executor.execute(sql)
            ratio = result.elapsed_s / budget
            ok = result.error_kind == "timeout" and ratio <= 1.5
            print(f"{label:<11} {name:<15} {result.error_kind or 'ok':<8} {result.elapsed_s:>9.3f} {ratio:>8.2f} "
                  f"{'yes' if ok else 'NO':>7}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1.0, help="time budget of the endless queries (s)")
    args = parser.parse_args()
    bench_throughput(args.repeat)
    bench_deadlines(args.budget)


if __name__ == "__main__":
    main()
