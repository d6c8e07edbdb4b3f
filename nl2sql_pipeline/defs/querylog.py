"""The company's own SQL as training data: the `logged_queries` asset (per database)."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from nl2sql_pipeline.core import querylog
from nl2sql_pipeline.core.llm import pii
from nl2sql_pipeline.core.querylog import (
    LoggedQueries, conditions, llm_questions, logged, normalize, params, sources, to_ir, to_question,
)
from nl2sql_pipeline.core.querylog.llm_questions import llm_question_writer
from nl2sql_pipeline.defs.audit import audited_executor
from nl2sql_pipeline.defs.data_create import COMMON
from nl2sql_pipeline.defs.generation import LLM_SAMPLE_PARTS, SYNTHESIS_MODULES
from nl2sql_pipeline.defs.partitioned import per_partition_output, upstream
from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource
from nl2sql_pipeline.defs.validation import VALIDATION_MODULES
from nl2sql_pipeline.defs.versioning import code_version

QUERYLOG_MODULES = (querylog, conditions, llm_questions, logged, normalize, params, sources, to_ir, to_question)


def _md(header: str, rows: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md(header + "\n" + "\n".join(rows or ["| none | |"]))


def _metadata(value: LoggedQueries) -> Mapping[str, Any]:
    preview = [f"| {p.meta.get('count')} | {p.hardness} | {p.meta.get('question_source')} | {p.question} | `{p.sql}` |"
               for p in value.pairs[:10]]
    return {
        "pairs": len(value.pairs),
        "statements_read": dict(value.read),
        "templates": value.templates,
        "dropped": len(value.dropped),
        "dropped_by_reason": _md("| reason | count |\n|---|---|", [f"| {r} | {n} |" for r, n in value.dropped_by_reason().items()]),
        "dropped_examples": _md("| where | reason | sql |\n|---|---|---|",
                                [f"| {d.origin} | {d.reason} | `{d.sql[:120]}` |" for d in value.dropped[:12]]),
        "question_sources": dict(value.question_sources),
        "offline_renderer_cannot_express": _md("| shape | count |\n|---|---|",
                                               [f"| {s} | {n} |" for s, n in sorted(value.unrenderable.items())]),
        "preview": _md("| count | hardness | question by | question | sql |\n|---|---|---|---|---|", preview),
        "notes": "\n".join(value.notes) or "none",
    }


@dg.asset(kinds={"python", "sqlglot"},
          code_version=code_version(*QUERYLOG_MODULES, *VALIDATION_MODULES, *SYNTHESIS_MODULES, *LLM_SAMPLE_PARTS),
          pool="llm", **COMMON)
def logged_queries(context: dg.AssetExecutionContext, databases: DatabasesResource, db_metadata: Any,
                   table_cards: Any, llm: LLMResource) -> dg.Output:
    """The company's own SQL (report files, a query log, pg_stat_statements, performance_schema
    digests) as validated question/SQL pairs, most frequent first; everything that is not a single
    query is dropped with its reason and never executed. Empty for databases without `query_log`."""

    def compute(key: str) -> LoggedQueries:
        db = databases.get(key)
        meta = upstream(context, db_metadata, key)
        if db.query_log is None:
            return LoggedQueries(database=key, dialect=meta.dialect, notes=["no query_log configured"])
        said: list[str] = []
        cards = upstream(context, table_cards, key)
        # the log's literals are real customer values: the prompts are masked like generation's
        ask = (llm_question_writer(db, meta, cards, lambda: pii.with_masking(llm.client(), db, cards), said)
               if db.generator != "offline" else None)
        found = querylog.logged_queries(db, meta, audited_executor(context, db, "query_log"), questions=ask)
        return found.model_copy(update={"notes": [*found.notes, *said]})

    return per_partition_output(context, compute, _metadata)
