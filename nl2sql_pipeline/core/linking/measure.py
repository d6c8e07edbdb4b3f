"""Linking quality on questions with gold SQL: recall of the gold tables, precision, tables and
tokens shown, latency. Shared by `nl2sql-link` and benchmarks/bench_linking.py."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from pydantic import BaseModel
from sqlglot import exp, parse_one
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

from nl2sql_pipeline.core.linking.index import SchemaIndex
from nl2sql_pipeline.core.linking.linker import LinkConfig, LinkedSchema, link
from nl2sql_pipeline.core.linking.report import gold_match
from nl2sql_pipeline.core.validation.syntax import tables_used

Linker = Callable[[str, SchemaIndex, LinkConfig], LinkedSchema]


class Question(BaseModel):
    index: int
    db_id: str
    question: str
    query: str


class Pick(BaseModel):
    index: int
    db_id: str
    tables: list[str]
    gold: list[str] | None  # None: the gold SQL does not parse or names no known table
    recalled: bool | None
    precision: float | None
    tokens: int
    latency_ms: float


class LinkingStats(BaseModel):
    questions: int
    scored: int  # questions whose gold tables are known
    gold_recall: float  # share of scored questions with every gold table chosen
    table_recall: float
    precision: float
    mean_tables: float
    mean_tokens: float
    whole_schema_share: float
    latency_p50_ms: float
    latency_p95_ms: float


def gold_tables(sql: str, index: SchemaIndex) -> list[str] | None:
    """The tables a gold query reads, spelled as the schema does; None when it cannot be parsed."""
    known = {t.lower(): t for t in index.tables}
    try:
        tree = parse_one(sql, dialect=index.dialect)
        found = tables_used(tree, known) if isinstance(tree, exp.Expression) else []
    except Exception:  # e.g. a column named `alter`: read the names after FROM / JOIN from the tokens
        found = _tables_after_from(sql, index.dialect, known)
    return found or None


def _tables_after_from(sql: str, dialect: str, known: dict[str, str]) -> list[str]:
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except Exception:
        return []
    names = [known.get(tok.text.lower()) for prev, tok in zip(tokens, tokens[1:])
             if prev.token_type in (TokenType.FROM, TokenType.JOIN)]
    return list(dict.fromkeys(n for n in names if n))


def pick(item: Question, index: SchemaIndex, config: LinkConfig, linker: Linker = link) -> tuple[Pick, bool]:
    """Link one question, timed; also whether the whole schema was shown."""
    start = time.perf_counter()
    linked = linker(item.question, index, config)
    elapsed = (time.perf_counter() - start) * 1000
    gold = gold_tables(item.query, index)
    match = gold_match(linked.tables, gold) if gold else None
    return Pick(index=item.index, db_id=item.db_id, tables=linked.tables, gold=gold,
                recalled=match.recalled if match else None, precision=match.precision if match else None,
                tokens=linked.tokens, latency_ms=round(elapsed, 3)), linked.whole_schema


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarize(picks: list[Pick], whole: list[bool]) -> LinkingStats:
    scored = [p for p in picks if p.gold]
    n = max(1, len(scored))
    latencies = [p.latency_ms for p in picks]
    return LinkingStats(
        questions=len(picks), scored=len(scored),
        gold_recall=round(sum(bool(p.recalled) for p in scored) / n, 4),
        table_recall=round(sum(len({t.lower() for t in p.tables} & {g.lower() for g in p.gold or []}) / len(p.gold or [1])
                               for p in scored) / n, 4),
        precision=round(sum(p.precision or 0.0 for p in scored) / n, 4),
        mean_tables=round(sum(len(p.tables) for p in picks) / max(1, len(picks)), 2),
        mean_tokens=round(sum(p.tokens for p in picks) / max(1, len(picks)), 1),
        whole_schema_share=round(sum(whole) / max(1, len(whole)), 4),
        latency_p50_ms=round(_percentile(latencies, 50), 3), latency_p95_ms=round(_percentile(latencies, 95), 3),
    )
