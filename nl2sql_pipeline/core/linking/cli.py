"""`nl2sql-link`: how well schema linking picks the tables of Spider-shaped questions.

    nl2sql-link --questions dev.json --db database/ [--budget-tokens 1200] [--max-tables 4] [--out picks.jsonl]
    nl2sql-link --questions dev.json --config configs/databases.yaml --database NAME [...]

`--db` is a folder of Spider databases (`<db_id>/<db_id>.sqlite`); `--config` links over any
configured database, its descriptions file applied and its `no_sample` settings honoured (the
questions' db_id must be NAME, or absent). `--embeddings-url/--embeddings-model` (or
NL2SQL_EMBEDDINGS_BASE_URL/_MODEL) add an embedding retriever's scores to BM25. Prints recall of the gold tables, mean tables and tokens
chosen and the latency per question. Exit status 0, or 2 for bad arguments or unreadable inputs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig, load_databases
from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.evaluation.inputs import spider_db_path
from nl2sql_pipeline.core.execution import close_executors, executor_for
from nl2sql_pipeline.core.linking.embeddings import EmbeddingRetriever, EmbeddingSettings
from nl2sql_pipeline.core.linking.index import SchemaIndex, build_index, sample_values
from nl2sql_pipeline.core.linking.linker import LinkConfig, link
from nl2sql_pipeline.core.linking.measure import LinkingStats, Pick, Question, pick, summarize
from nl2sql_pipeline.core.schema.catalog import read_schema


class LinkInputError(Nl2SqlError):
    """The questions file or the database selection cannot be used."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nl2sql-link", description=__doc__.split("\n\n")[0])
    p.add_argument("--questions", required=True, type=Path, help="Spider dev.json: a list of {db_id, question, query}")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", type=Path, help="folder of Spider databases <db_id>/<db_id>.sqlite")
    where.add_argument("--config", type=Path, help="databases.yaml (with --database)")
    p.add_argument("--database", help="the configured database to link over (with --config)")
    p.add_argument("--budget-tokens", type=int, default=1200, help="schema tokens a prompt may carry (default 1200)")
    p.add_argument("--max-tables", type=int, default=0, help="at most this many tables (default 0: no cap)")
    p.add_argument("--format", choices=("ddl", "cards"), default="ddl", help="schema rendering the budget counts")
    p.add_argument("--no-values", action="store_true", help="do not sample column values for the value index")
    p.add_argument("--out", type=Path, help="write one JSON line per question: {index, db_id, tables}")
    p.add_argument("--embeddings-url", help="OpenAI-compatible base URL serving /v1/embeddings, added to BM25 "
                                            "(default: $NL2SQL_EMBEDDINGS_BASE_URL, else BM25 alone)")
    p.add_argument("--embeddings-model", help="model id for --embeddings-url (default: $NL2SQL_EMBEDDINGS_MODEL)")
    return p


def read_questions(path: Path) -> list[Question]:
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
        return [Question(index=i, db_id=r.get("db_id", ""), question=r["question"], query=r["query"])
                for i, r in enumerate(rows)]
    except FileNotFoundError:
        raise LinkInputError(f"The questions file {path} does not exist.", "check the --questions path.") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise LinkInputError(f"{path} is not a Spider dev.json list of {{db_id, question, query}} ({err}).",
                             "pass a JSON list of objects with question and query (and db_id).") from None


def index_for(db: DatabaseConfig, sample: bool = True) -> SchemaIndex:
    """Reflect one database, build its cards and sample its values, as the schema_index asset does."""
    cards = build_cards(read_schema(db))
    if not sample:
        return build_index(cards)
    values, skipped, notes = sample_values(cards, executor_for(db), db.may_sample)
    return build_index(cards, values, skipped_columns=skipped, notes=notes)


def _spider_config(folder: Path, db_id: str) -> DatabaseConfig:
    path = spider_db_path(folder, db_id)
    if not path.is_file():
        raise LinkInputError(f"No SQLite file for database {db_id!r} at {path}.",
                             "pass --db the folder holding <db_id>/<db_id>.sqlite for every db_id of the questions.")
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_.-") else "_" for ch in db_id) or "db"
    return DatabaseConfig(name=safe, url=sqlite_url(path, read_only=True).render_as_string())


def run(args: argparse.Namespace) -> tuple[LinkingStats, list[Pick], float]:
    questions = read_questions(args.questions)
    if args.config:
        if not args.database:
            raise LinkInputError("--config needs --database NAME.", "name the configured database to link over.")
        db = load_databases(args.config).get(args.database)
        foreign = sorted({q.db_id for q in questions if q.db_id and q.db_id != args.database})
        if foreign:
            raise LinkInputError(f"{args.questions} has questions for other databases ({', '.join(foreign[:5])}).",
                                 f"keep only questions whose db_id is {args.database!r} (or leave db_id out).")
        configs = {q.db_id: db for q in questions}
    else:
        configs = {db_id: _spider_config(args.db, db_id) for db_id in sorted({q.db_id for q in questions})}
    config = LinkConfig(budget_tokens=args.budget_tokens, max_tables=args.max_tables, schema_format=args.format)
    start = time.perf_counter()
    indexes = {db_id: index_for(db, sample=not args.no_values) for db_id, db in configs.items()}
    build_s = time.perf_counter() - start
    close_executors()
    retriever = _retriever(args)
    linker = (lambda q, index, cfg: link(q, index, cfg, extra=retriever)) if retriever else link
    results = [pick(q, indexes[q.db_id], config, linker) for q in questions]
    picks = [p for p, _ in results]
    return summarize(picks, [w for _, w in results]), picks, build_s


def _retriever(args: argparse.Namespace) -> EmbeddingRetriever | None:
    if args.embeddings_url:
        if not args.embeddings_model:
            raise LinkInputError("--embeddings-url needs --embeddings-model.", "name the model the endpoint serves.")
        return EmbeddingRetriever(EmbeddingSettings(base_url=args.embeddings_url, model=args.embeddings_model,
                                                    api_key=os.environ.get("NL2SQL_EMBEDDINGS_API_KEY")))
    settings = EmbeddingSettings.from_env()
    return EmbeddingRetriever(settings) if settings else None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        stats, picks, build_s = run(args)
    except Nl2SqlError as err:
        print(f"nl2sql-link: {err}", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_text("".join(json.dumps({"index": p.index, "db_id": p.db_id, "tables": p.tables},
                                               ensure_ascii=False) + "\n" for p in picks), encoding="utf-8")
    print(f"questions: {stats.questions} (gold tables known for {stats.scored})")
    print(f"gold-table recall (all gold tables chosen): {stats.gold_recall:.1%}; per-table recall {stats.table_recall:.1%}")
    print(f"precision: {stats.precision:.1%}; mean tables {stats.mean_tables}; mean schema tokens {stats.mean_tokens}")
    print(f"whole schema shown: {stats.whole_schema_share:.1%}; index build {build_s:.2f} s")
    print(f"latency per question: p50 {stats.latency_p50_ms:.2f} ms, p95 {stats.latency_p95_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
