"""Steps 4-5 of data_create as partitioned assets: the topic plan and the generated NL/SQL pairs."""

from collections import Counter
from collections.abc import Mapping
from typing import Any

import dagster as dg

from nl2sql_pipeline.core import planning
from nl2sql_pipeline.core.incremental import merge, split_plan, topic_signatures
from nl2sql_pipeline.core.planning import plan_topics
from nl2sql_pipeline.core.querylog import merge as querylog_merge
from nl2sql_pipeline.core.samples import RawSamples, TopicPlan
from nl2sql_pipeline.core.semantics import index, legend, roles
from nl2sql_pipeline.core.synthesis import (
    conditions, grammar, ir, phrasing, recipes, recipes_deep, recipes_flat, render_sql, schema, synthesize, synthesizer,
    text_en, text_zh, tidy, values,
)
from nl2sql_pipeline.core.validation import semantic, semantic_sql
from nl2sql_pipeline.defs.audit import audited_executor
from nl2sql_pipeline.defs.data_create import COMMON
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.llm import LLM_PLAN_PARTS, LLM_SAMPLE_PARTS, LLMResource, llm_plan, llm_samples
from nl2sql_pipeline.defs.partitioned import per_partition_output, upstream
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version

# Everything that decides the samples: grammar, value sampling, templates, rendering.
SYNTHESIS_MODULES = (
    conditions, grammar, ir, phrasing, recipes, recipes_deep, recipes_flat, render_sql, schema, synthesizer, text_en, text_zh,
    tidy, values, roles, index, legend, semantic, semantic_sql,
)


def _table(header: str, rows: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md(header + "\n" + "\n".join(rows))


def _plan_metadata(plan: TopicPlan) -> Mapping[str, Any]:
    return {
        "source": plan.source,
        "topic_count": len(plan.topics),
        "total": plan.total,
        "topics": _table("| topic | tables | count |\n|---|---|---|",
                         [f"| {t.name} | {', '.join(t.tables)} | {t.count} |" for t in plan.topics]),
        "notes": "\n".join(plan.notes) or "none",
    }


@dg.asset(kinds={"python"}, code_version=code_version(planning, legend, *LLM_PLAN_PARTS), pool="llm", **COMMON)
def topic_plan(context: dg.AssetExecutionContext, databases: DatabasesResource, table_cards: Any,
               llm: LLMResource) -> dg.Output:
    """Step 4: business topics (FK-related tables) and the share of the sample budget for each
    (by the LLM for databases with `generator: llm` or `llm-sql-first`)."""

    def compute(key: str) -> TopicPlan:
        db = databases.get(key)
        if db.generator != "offline":
            return llm_plan(context, db, upstream(context, table_cards, key), llm)
        return plan_topics(upstream(context, table_cards, key), db.sample_budget, db.planning)

    return per_partition_output(context, compute, _plan_metadata)


def _samples_metadata(raw: RawSamples) -> Mapping[str, Any]:
    hardness = Counter(s.hardness or "unknown" for s in raw.samples)
    by_source = Counter("log" if s.source == "log" else "generated" for s in raw.samples)
    topics = Counter(s.topic for s in raw.samples)
    preview = [f"| {s.hardness} | {s.question} | `{s.sql}` |" for s in raw.samples[:8]]
    return {
        "sample_count": len(raw.samples),
        "by_hardness": dict(sorted(hardness.items())),
        "log_vs_generated": {"log": by_source.get("log", 0), "generated": by_source.get("generated", 0)},
        "by_topic": _table("| topic | samples |\n|---|---|", [f"| {t} | {n} |" for t, n in topics.items()]),
        "preview": _table("| hardness | question | sql |\n|---|---|---|", preview),
        "notes": "\n".join(raw.notes) or "none",
    }


RAW_SAMPLES_VERSION = code_version(*SYNTHESIS_MODULES, *LLM_SAMPLE_PARTS, querylog_merge)


# logged_queries and feedback_pairs are dependencies read through the IO manager (not inputs), so
# selections without them keep working for databases that have no query log or feedback.
@dg.asset(kinds={"python", "sqlglot"}, code_version=RAW_SAMPLES_VERSION, pool="llm",
          deps=["logged_queries", "feedback_pairs"], **COMMON)
def raw_samples(context: dg.AssetExecutionContext, databases: DatabasesResource, db_metadata: Any,
                topic_plan: Any, table_cards: Any, llm: LLMResource,
                json_io_manager: dg.ResourceParam[PydanticJsonIOManager]) -> dg.Output:
    """Step 5: NL/SQL pairs per topic, SQL first from the schema and real values, then the question
    (by the LLM, validated and topped up, for databases with an LLM generator).

    Only topics whose tables, budget or generator changed are generated again (after schema drift,
    the others keep their samples, which validation re-checks against the new schema). Pairs users
    vouched for (feedback_pairs) come first, as `source: feedback`."""

    def compute(key: str) -> RawSamples:
        db = databases.get(key)
        meta, plan = upstream(context, db_metadata, key), upstream(context, topic_plan, key)
        logged = querylog_merge.load_logged(json_io_manager.load_previous(dg.AssetKey("logged_queries"), key), db)
        log_pairs = querylog_merge.take_log_pairs(logged, db)
        plan = querylog_merge.reduce_plan(plan, len(log_pairs))
        signatures = topic_signatures(plan, meta, f"{RAW_SAMPLES_VERSION}:{db.model_dump_json()}")
        todo, reused = split_plan(json_io_manager.load_previous(context.asset_key, key), signatures, plan)
        if not todo.topics:
            generated = RawSamples(database=meta.database, dialect=meta.dialect, samples=[])
        elif db.generator != "offline":
            generated = llm_samples(context, db, meta, upstream(context, table_cards, key), todo, llm)
        else:
            generated = synthesize(todo, meta, audited_executor(context, db, "synthesis"), db)
        kept = [t for t in plan.topics if t not in todo.topics]
        if kept:
            context.log.info(f"{key}: regenerated {len(todo.topics)} topics, reused {len(kept)} unchanged ones")
        merged = querylog_merge.with_log_pairs(merge(generated, reused, signatures, kept), log_pairs, logged)
        feedback = json_io_manager.load_previous(dg.AssetKey("feedback_pairs"), key)
        vouched = feedback.accepted if feedback is not None else []
        merged.samples = [*vouched, *(s for s in merged.samples if s.source != "feedback")]
        return merged

    return per_partition_output(context, compute, _samples_metadata)
