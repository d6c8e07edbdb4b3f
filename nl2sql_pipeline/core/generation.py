"""Steps 4-5 as two calls: `plan_for` (the topic plan) and `samples_for` (the NL/SQL pairs), by the
offline synthesizer or, for databases with `generator: llm` or `llm-sql-first`, by the LLM.

Regeneration is incremental: a topic's samples are reused when nothing that decides them
changed. A topic's signature covers the generator's version, the topic (tables, count) and the
structure of each of its tables, so after a schema change only topics touching a changed table
are generated again; the reused samples still go through validation against the new schema.

The LLM client comes in as a function that builds one, called only for an LLM generator, so an
offline database needs neither endpoint settings nor a key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from nl2sql_pipeline.core.cards import TableCards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.fsutil import sha256_text
from nl2sql_pipeline.core.llm import LLMClient, generator, pii, planner, prompting
from nl2sql_pipeline.core.llm.generator import Progress
from nl2sql_pipeline.core.planning import plan_topics
from nl2sql_pipeline.core.querylog import merge as querylog_merge
from nl2sql_pipeline.core.samples import RawSamples, Sample, Topic, TopicPlan
from nl2sql_pipeline.core.schema.diff import table_fingerprints
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.synthesis import synthesize

if TYPE_CHECKING:
    from nl2sql_pipeline.core.ask.feedback import FeedbackPairs

ClientFactory = Callable[[], LLMClient]
ExecutorFor = Callable[[str], ReadOnlyExecutor]  # the database's executor for a purpose (audit log)


def plan_for(db: DatabaseConfig, cards: TableCards, client: ClientFactory, progress: Progress) -> TopicPlan:
    """Step 4: business topics and the share of the sample budget for each; with an LLM generator
    the LLM plans (its prompts masked), and the notes say which endpoint made the plan."""
    if db.generator == "offline":
        return plan_topics(cards, db.sample_budget, db.planning)
    llm = pii.with_masking(client(), db, cards)
    plan = planner.plan_with_llm(cards, db, llm)
    progress.info(f"LLM plan for {db.name}: {plan.source}; {llm.stats.as_dict()}")
    masked = [llm.masker.note()] if llm.masker else []
    return plan.model_copy(update={"notes": [*plan.notes, *masked, _endpoint_note(llm)]})


def samples_for(db: DatabaseConfig, meta: SchemaMetadata, cards: TableCards, plan: TopicPlan, *, version: str,
                client: ClientFactory, executor: ExecutorFor, progress: Progress, previous: RawSamples | None = None,
                logged: object = None, feedback: FeedbackPairs | None = None) -> RawSamples:
    """Step 5: the plan's samples; pairs users vouched for (`feedback`) first, then the query log's
    pairs (`logged`, the stored logged_queries value), then what the generator made.

    Only topics whose signature differs from `previous` (this step's last value) are generated;
    `version` is the generator's code version, so a code change regenerates every topic.
    """
    logged_queries = querylog_merge.load_logged(logged, db)
    log_pairs = querylog_merge.take_log_pairs(logged_queries, db)
    plan = querylog_merge.reduce_plan(plan, len(log_pairs))
    signatures = _topic_signatures(plan, meta, f"{version}:{db.model_dump_json()}")
    todo, reused = _split_plan(previous, signatures, plan)
    if not todo.topics:
        generated = RawSamples(database=meta.database, dialect=meta.dialect, samples=[])
    elif db.generator != "offline":
        generated = _llm_samples(db, meta, cards, todo, client, executor, progress)
    else:
        generated = synthesize(todo, meta, executor("synthesis"), db)
    kept = [t for t in plan.topics if t not in todo.topics]
    if kept:
        progress.info(f"{db.name}: regenerated {len(todo.topics)} topics, reused {len(kept)} unchanged ones")
    merged = querylog_merge.with_log_pairs(_merge(generated, reused, signatures, kept), log_pairs, logged_queries)
    vouched = feedback.accepted if feedback is not None else []
    merged.samples = [*vouched, *(s for s in merged.samples if s.source != "feedback")]
    return merged


def _llm_samples(db: DatabaseConfig, meta: SchemaMetadata, cards: TableCards, plan: TopicPlan, client: ClientFactory,
                 executor_for: ExecutorFor, progress: Progress) -> RawSamples:
    """Stage B (`llm` or `llm-sql-first`): validated by the same checks as step 6, topped up, then filled."""
    llm = pii.with_masking(client(), db, cards)
    executor = executor_for("generation")
    settings = llm.settings
    values = None
    if settings.sends_values_for(db.name):
        values = prompting.value_lines(executor, meta, db, settings.generator.values_per_column, llm.masker)
    raw = generator.generate_with_llm(
        plan, cards, db, llm, mode=db.generator,  # type: ignore[arg-type]
        accept=generator.validated_by(meta, executor, db.validation.keep_empty),
        synthesize=generator.synthesized_by(meta, executor, db), values=values, progress=progress,
        executor=executor)
    return raw.model_copy(update={"notes": [*raw.notes, _endpoint_note(llm)]})


def _endpoint_note(client: LLMClient) -> str:
    """Which endpoint answered and how often; never the key."""
    stats = client.stats.as_dict()
    return (f"LLM {client.settings.model} at {client.settings.base_url}: {stats['requests']} requests, "
            f"{stats['cache_hits']} cache hits, {stats['retries']} retries")


def _topic_signatures(plan: TopicPlan, meta: SchemaMetadata, version: str) -> dict[str, str]:
    tables = table_fingerprints(meta)
    return {
        topic.name: sha256_text(
            json.dumps([version, sorted(topic.tables), topic.count, [tables.get(t) for t in sorted(topic.tables)]])
        )[:16]
        for topic in plan.topics
    }


def _split_plan(previous: RawSamples | None, signatures: dict[str, str], plan: TopicPlan) -> tuple[TopicPlan, list[Sample]]:
    """(the plan of topics to generate, the previous samples that can be kept)."""
    old = previous.topic_signatures if previous else {}
    keep = {name for name, sig in signatures.items() if old.get(name) == sig}
    todo = [t for t in plan.topics if t.name not in keep]
    reused = [s for s in previous.samples if s.topic in keep] if previous else []
    sub_plan = plan.model_copy(update={"topics": todo, "total": sum(t.count for t in todo)})
    return sub_plan, reused


def _merge(generated: RawSamples, reused: list[Sample], signatures: dict[str, str], kept_topics: list[Topic]) -> RawSamples:
    notes = list(generated.notes)
    if reused:
        notes.append(
            f"reused {len(reused)} samples of {len(kept_topics)} unchanged topics: {', '.join(t.name for t in kept_topics)}"
        )
    return generated.model_copy(
        update={"samples": reused + generated.samples, "notes": notes, "topic_signatures": signatures}
    )
