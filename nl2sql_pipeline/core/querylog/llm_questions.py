"""LLM back-translation for log pairs without a question: the existing `llm-sql-first` path
(its prompts, parsing, cache and whatever masking it applies) with the log's SQL standing in for
the synthesizer's. Pairs are grouped by the tables they read, so each prompt shows their DDL."""

from __future__ import annotations

from collections.abc import Callable

from nl2sql_pipeline.core.cards import TableCards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import parse_query
from nl2sql_pipeline.core.llm import generator
from nl2sql_pipeline.core.llm.client import LLMClient
from nl2sql_pipeline.core.querylog.models import LOG_TOPIC
from nl2sql_pipeline.core.samples import Sample, Topic, TopicPlan
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.validation.syntax import tables_used


def _tables(sample: Sample, meta: SchemaMetadata, names: dict[str, str]) -> tuple[str, ...]:
    tree = parse_query(sample.sql, meta.dialect)[0]
    return tuple(tables_used(tree, names)) if tree is not None else ()


def llm_question_writer(db: DatabaseConfig, meta: SchemaMetadata, cards: TableCards, client: Callable[[], LLMClient],
                        said: list[str]) -> Callable[[list[Sample]], list[str | None]]:
    """A QuestionWriter for `logged_queries`; `client` is called only when there is something to ask,
    and what the generator reports is appended to `said`."""
    names = {t.name.lower(): t.name for t in meta.tables}

    def ask(samples: list[Sample]) -> list[str | None]:
        groups: dict[tuple[str, ...], list[Sample]] = {}
        for s in samples:
            groups.setdefault(_tables(s, meta, names) or (meta.tables[0].name,), []).append(s)
        topics = [Topic(name=f"{LOG_TOPIC}:{'+'.join(k)}", tables=list(k), count=len(v)) for k, v in groups.items()]
        by_topic = {t.name: members for t, members in zip(topics, groups.values(), strict=True)}
        plan = TopicPlan(database=db.name, dialect=meta.dialect, total=len(samples), topics=topics)
        raw = generator.generate_with_llm(plan, cards, db, client(), mode="llm-sql-first",
                                          synthesize=lambda topic, n: by_topic[topic.name][:n])
        answered = {s.sql: s.question for s in raw.samples if s.source == "llm-sql-first"}
        said.extend(raw.notes)
        said.append(f"LLM questions for {len(answered)} of {len(samples)} log pairs without one; "
                    "the offline renderer phrases the rest where it can")
        return [answered.get(s.sql) for s in samples]

    return ask
