"""Regenerate only what changed: a topic's samples are reused when nothing that decides them did.

A topic's signature covers the generator's version, the topic (tables, count) and the structure
of each of its tables, so after a schema change only topics touching a changed table are
generated again; the reused samples still go through validation against the new schema.
"""

from __future__ import annotations

import json

from nl2sql_pipeline.core.fsutil import sha256_text
from nl2sql_pipeline.core.samples import RawSamples, Sample, Topic, TopicPlan
from nl2sql_pipeline.core.schema.diff import table_fingerprints
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata


def topic_signatures(plan: TopicPlan, meta: SchemaMetadata, version: str) -> dict[str, str]:
    tables = table_fingerprints(meta)
    return {
        topic.name: sha256_text(
            json.dumps([version, sorted(topic.tables), topic.count, [tables.get(t) for t in sorted(topic.tables)]])
        )[:16]
        for topic in plan.topics
    }


def split_plan(previous: RawSamples | None, signatures: dict[str, str], plan: TopicPlan) -> tuple[TopicPlan, list[Sample]]:
    """(the plan of topics to generate, the previous samples that can be kept)."""
    old = previous.topic_signatures if previous else {}
    keep = {name for name, sig in signatures.items() if old.get(name) == sig}
    todo = [t for t in plan.topics if t.name not in keep]
    reused = [s for s in previous.samples if s.topic in keep] if previous else []
    sub_plan = plan.model_copy(update={"topics": todo, "total": sum(t.count for t in todo)})
    return sub_plan, reused


def merge(generated: RawSamples, reused: list[Sample], signatures: dict[str, str], kept_topics: list[Topic]) -> RawSamples:
    notes = list(generated.notes)
    if reused:
        notes.append(
            f"reused {len(reused)} samples of {len(kept_topics)} unchanged topics: {', '.join(t.name for t in kept_topics)}"
        )
    return generated.model_copy(
        update={"samples": reused + generated.samples, "notes": notes, "topic_signatures": signatures}
    )
