"""Steps 4-5 of data_create as partitioned assets: the topic plan and the generated NL/SQL pairs."""

from collections import Counter
from collections.abc import Mapping
from typing import Any

import dagster as dg

from nl2sql_pipeline.core import chinese, generation, planning, sql_template
from nl2sql_pipeline.core.llm import generator, parse, pii, pii_detect, planner, prompting
from nl2sql_pipeline.core.querylog import merge as querylog_merge
from nl2sql_pipeline.core.samples import RawSamples, TopicPlan
from nl2sql_pipeline.core.semantics import index, legend, roles
from nl2sql_pipeline.core.synthesis import (
    conditions, grammar, ir, phrasing, recipes, recipes_deep, recipes_flat, render_sql, schema, synthesizer, text_en,
    text_zh, tidy, values,
)
from nl2sql_pipeline.core.validation import semantic, semantic_sql
from nl2sql_pipeline.defs.audit import audited_executor
from nl2sql_pipeline.defs.data_create import COMMON
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager, optional_input
from nl2sql_pipeline.defs.partitioned import per_partition_output, upstream
from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource
from nl2sql_pipeline.defs.versioning import code_version
from nl2sql_pipeline.prompts import PROMPTS_DIR

# Everything that decides the samples: grammar, value sampling, templates, rendering.
SYNTHESIS_MODULES = (
    conditions, grammar, ir, phrasing, recipes, recipes_deep, recipes_flat, render_sql, schema, synthesizer, text_en, text_zh,
    tidy, values, roles, index, legend, semantic, semantic_sql, sql_template, chinese,
)
# What decides an LLM-made plan or sample set besides the endpoint: prompts, parsing, the loops.
LLM_PLAN_PARTS = (parse, planner, pii, pii_detect, PROMPTS_DIR)
LLM_SAMPLE_PARTS = (parse, generator, prompting, pii, pii_detect, PROMPTS_DIR)


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


@dg.asset(kinds={"python"}, code_version=code_version(generation, planning, legend, chinese, *LLM_PLAN_PARTS), pool="llm",
          **COMMON)
def topic_plan(context: dg.AssetExecutionContext, databases: DatabasesResource, table_cards: Any,
               llm: LLMResource) -> dg.Output:
    """Step 4: business topics (FK-related tables) and the share of the sample budget for each
    (by the LLM for databases with `generator: llm` or `llm-sql-first`)."""

    def compute(key: str) -> TopicPlan:
        return generation.plan_for(databases.get(key), upstream(context, table_cards, key), llm.client, context.log)

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


RAW_SAMPLES_VERSION = code_version(generation, *SYNTHESIS_MODULES, *LLM_SAMPLE_PARTS, querylog_merge)


# logged_queries and feedback_pairs are optional inputs (None until materialized), so selections
# without them keep working for databases that have no query log or feedback.
@dg.asset(kinds={"python", "sqlglot"}, code_version=RAW_SAMPLES_VERSION, pool="llm",
          ins={"logged_queries": optional_input(), "feedback_pairs": optional_input()}, **COMMON)
def raw_samples(context: dg.AssetExecutionContext, databases: DatabasesResource, db_metadata: Any,
                topic_plan: Any, table_cards: Any, logged_queries: Any, feedback_pairs: Any, llm: LLMResource,
                json_io_manager: dg.ResourceParam[PydanticJsonIOManager]) -> dg.Output:
    """Step 5: NL/SQL pairs per topic, SQL first from the schema and real values, then the question
    (by the LLM, validated and topped up, for databases with an LLM generator).

    Only topics whose tables, budget or generator changed are generated again (after schema drift,
    the others keep their samples, which validation re-checks against the new schema). Pairs users
    vouched for (feedback_pairs) come first, as `source: feedback`."""

    def compute(key: str) -> RawSamples:
        db = databases.get(key)
        return generation.samples_for(
            db, upstream(context, db_metadata, key), upstream(context, table_cards, key),
            upstream(context, topic_plan, key), version=RAW_SAMPLES_VERSION, client=llm.client,
            executor=lambda purpose: audited_executor(context, db, purpose), progress=context.log,
            previous=json_io_manager.load_previous(context.asset_key, key),
            logged=upstream(context, logged_queries, key), feedback=upstream(context, feedback_pairs, key))

    return per_partition_output(context, compute, _samples_metadata)
