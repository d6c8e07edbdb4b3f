"""`nl2sql-eval`: a drop-in for Spider's execution evaluation, on the read-only executor.

    nl2sql-eval --gold dev_gold.sql --pred pred.txt (--db database/ | --config databases.yaml)
                [--neighbours N] [--show-failures K] [--semantics test-suite] [--strip-distinct]
                [--timeout 5] [--workers N] [--out per_item.jsonl]

`--pred` may be given twice (base, then adapter) for a before/after table, and may name a
LLaMA-Factory generated_predictions.jsonl. `--config` runs each gold line on the configured
database its db_id names (PostgreSQL, MariaDB/MySQL or SQLite). `--neighbours N` also runs every
matching prediction on N distilled neighbour databases (test-suite accuracy). Exit status: 0
whatever the predictions' quality, 2 for bad arguments or unreadable inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from nl2sql_pipeline.core.config import load_databases, nl2sql_home
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.evaluation.compare import SEMANTICS
from nl2sql_pipeline.core.evaluation.inputs import (
    EvalInputError,
    prediction_set,
    read_generated_predictions,
    read_gold,
    read_spider_predictions,
    spider_db_path,
)
from nl2sql_pipeline.core.evaluation.neighbours import with_neighbours
from nl2sql_pipeline.core.evaluation.report import RunMetrics, before_after_markdown, failures_markdown, spider_table, summarize
from nl2sql_pipeline.core.evaluation.results import database_target
from nl2sql_pipeline.core.evaluation.server_neighbours import scratch_urls
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_runs
from nl2sql_pipeline.core.evaluation.textmetrics import text_scores
from nl2sql_pipeline.core.predictions import PredictionRuns, PredictionSet


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nl2sql-eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--gold", required=True, type=Path, help="SQL<TAB>db_id lines, or a Spider dev.json")
    p.add_argument("--pred", required=True, type=Path, action="append",
                   help="one SQL (or raw model output) per line, or generated_predictions.jsonl; twice for before/after")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", type=Path, help="folder of <db_id>/<db_id>.sqlite")
    where.add_argument("--config", type=Path, help="databases.yaml: each gold db_id names a configured database")
    p.add_argument("--neighbours", type=int, default=0,
                   help="also judge matches on N neighbour databases (test-suite accuracy; default 0: one database)")
    p.add_argument("--neighbour-dir", type=Path, help="working folder for neighbour copies (default $NL2SQL_HOME/neighbours)")
    p.add_argument("--seed", type=int, default=0, help="seed of the neighbour databases (default 0)")
    p.add_argument("--show-failures", type=int, default=0, metavar="K", help="print the first K failures with their reasons")
    p.add_argument("--ves-repeats", type=int, default=0, help="extra timings per matched item for R-VES (default 0: one)")
    p.add_argument("--no-gold-hygiene", action="store_true", help="do not flag empty or tie-dependent gold")
    p.add_argument("--parse-gate", action="store_true",
                   help="on SQLite, gate queries with the sqlglot parse as validation does, not SQLite's own authorizer")
    p.add_argument("--etype", default="exec", choices=["exec"], help="execution accuracy (the only type)")
    p.add_argument("--semantics", default="test-suite", choices=SEMANTICS)
    p.add_argument("--strip-distinct", action="store_true", help="remove DISTINCT from both queries, as Spider does by default")
    p.add_argument("--keep_distinct", action="store_true", help="accepted for Spider compatibility; keeping is our default")
    p.add_argument("--table", type=Path, help="accepted for Spider compatibility; not needed for execution")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per query, enforced (default 5)")
    p.add_argument("--row-cap", type=int, default=100_000, help="rows fetched per query; beyond it the item fails")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per CPU)")
    p.add_argument("--labels", default="base,adapter", help="names of the --pred runs (default base,adapter)")
    p.add_argument("--text", action="store_true", help="also exact match, token F1, BLEU-4 and ROUGE")
    p.add_argument("--out", type=Path, help="write one JSON line per item here")
    return p


def _load_run(path: Path, gold: list, label: str) -> tuple[PredictionSet, list[str] | None]:
    """The prediction set, and LLaMA-Factory's labels when the file is generated_predictions.jsonl."""
    if path.suffix == ".jsonl":
        rows = read_generated_predictions(path)
        outputs = [row.predict for row in rows]
        return prediction_set(gold, outputs, label=label, model=str(path), source="llamafactory"), [r.label for r in rows]
    return prediction_set(gold, read_spider_predictions(path), label=label, model=str(path), source="spider"), None


def _scratch_urls(args: argparse.Namespace, db_ids: set[str]) -> dict[str, str]:
    """Scratch database URLs (from `scratch_url_env`) of the configured databases that name one."""
    return scratch_urls(load_databases(args.config).databases, db_ids) if args.config is not None else {}


def _targets(args: argparse.Namespace, gold: list) -> dict[str, DatabaseTarget]:
    db_ids = {g.database for g in gold}
    if args.config is not None:
        databases = load_databases(args.config)
        known = {db.name for db in databases.databases}
        missing = sorted(db_ids - known)
        if missing:
            raise EvalInputError(
                f"{len(missing)} db_id(s) of the gold file are not in {args.config}: {', '.join(missing[:5])}.",
                "add a database entry named after each db_id (name, url or url_env), or fix the gold file.",
            )
        return {db_id: database_target(databases.get(db_id)) for db_id in db_ids}
    if not args.db.is_dir():
        raise EvalInputError(f"The database folder {args.db} does not exist.", "pass Spider's database/ folder.")
    missing = sorted(db_id for db_id in db_ids if not spider_db_path(args.db, db_id).is_file())
    if missing:
        raise EvalInputError(
            f"{len(missing)} database(s) of the gold file are not in {args.db}: {', '.join(missing[:5])}.",
            "pass the folder that holds <db_id>/<db_id>.sqlite for every db_id of the gold file.",
        )
    return {
        db_id: DatabaseTarget(url=sqlite_url(spider_db_path(args.db, db_id), read_only=True).render_as_string(), dialect="sqlite")
        for db_id in db_ids
    }


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.timeout <= 0 or args.row_cap <= 0 or args.workers < 0 or args.neighbours < 0 or args.ves_repeats < 0:
        _parser().error("--timeout and --row-cap must be positive; --workers, --neighbours and --ves-repeats zero or more")
    if len(args.pred) > 2:
        _parser().error("give --pred once, or twice for a before/after comparison")
    gold = read_gold(args.gold)
    labels = [*args.labels.split(","), "run3"][: len(args.pred)] if len(args.pred) > 1 else ["pred"]
    loaded = [_load_run(p, gold, label) for p, label in zip(args.pred, labels)]
    runs = PredictionRuns(runs=[prediction_run for prediction_run, _ in loaded])
    lf_labels = {prediction_run.label: lf for prediction_run, lf in loaded}
    targets = _targets(args, gold)
    if args.neighbours:
        by_db: dict[str, list[str]] = {}
        for g in gold:
            by_db.setdefault(g.database, []).append(g.gold_sql)
        targets, built = with_neighbours(targets, by_db, args.neighbours, args.neighbour_dir or nl2sql_home() / "neighbours",
                                         seed=args.seed, scratch=_scratch_urls(args, set(targets)))
        kept = sum(len(b.paths) for b in built)
        print(f"neighbour databases: {kept} for {len(built)} database(s), seed {args.seed}; near-miss variants the "
              f"databases alone cannot tell apart: {sum(b.variants - b.caught_by_source for b in built)}, of which the "
              f"neighbours tell apart {sum(b.caught_by_neighbours for b in built)}")
        for note in [b.dialect_note for b in built if b.dialect_note]:
            print(f"note: {note}")
    options = EvalOptions(semantics=args.semantics, strip_distinct=args.strip_distinct, timeout_s=args.timeout,
                          engine_gate=not args.parse_gate,
                          row_cap=args.row_cap, workers=args.workers, gold_hygiene=not args.no_gold_hygiene,
                          ves_repeats=args.ves_repeats)
    verdicts = evaluate_runs(runs, targets, options)
    metrics = []
    for prediction_run in runs.runs:
        items = verdicts[prediction_run.label]
        text = None
        if args.text:
            text = text_scores([v.pred_sql for v in items], [g.gold_sql for g in gold],
                               outputs=[i.output for i in prediction_run.items], labels=lf_labels[prediction_run.label])
        metrics.append(summarize(prediction_run.label, items, model=prediction_run.model, text=text))
    for m in metrics:
        if len(metrics) > 1:
            print(f"\n### {m.label}: {m.model}")
        print(spider_table(m))
        if m.failures:
            print("\n" + failures_markdown(m))
        if args.show_failures:
            _print_failures(m, verdicts[m.label], args.show_failures)
    if len(metrics) == 2:
        print("\n" + before_after_markdown(metrics[0], metrics[1]))
    elif args.text and metrics[0].text:
        print("\n" + metrics[0].text.model_dump_json(indent=1))
    if args.out:
        _write_items(args.out, [v for label in labels for v in verdicts[label]])
    return 0


def _print_failures(metrics: RunMetrics, verdicts: list, limit: int) -> None:
    from nl2sql_pipeline.core.evaluation.taxonomy import failure_kind

    print(f"\nfirst {limit} failures of {metrics.label}:")
    shown = 0
    for v in verdicts:
        kind = failure_kind(v) if v.executable and v.gold_flag is None else None
        if kind is None:
            continue
        reason = v.error or ("matches on the database, not on every neighbour" if kind == "wrong_on_neighbours" else "different rows")
        print(f"  #{v.index} [{v.db_id}] {kind}: {reason[:200]}\n      {' '.join(v.pred_sql.split())[:200]}")
        shown += 1
        if shown >= limit:
            break


def _write_items(path: Path, verdicts: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for v in verdicts:
            row = {"index": v.index, "db_id": v.db_id, "match": v.match, "pred_error": v.pred_error, **v.model_dump(exclude={"index", "db_id", "match", "pred_error"})}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except Nl2SqlError as err:
        print(f"nl2sql-eval: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
