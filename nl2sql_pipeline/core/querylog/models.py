"""What the query log reads (statements with their counts and questions) and what it yields."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

from nl2sql_pipeline.core.samples import Sample

LOG_TOPIC = "query_log"  # the topic of every log pair (Sample.topic)


class LoggedStatement(BaseModel):
    """One statement as a source holds it: a report file, a log file, the server's statistics."""

    sql: str
    question: str | None = None  # the human question, verbatim, when the source has one
    count: int = 1  # how often it ran (pg_stat_statements calls, digest COUNT_STAR, a log's count)
    origin: str  # where it came from: `reports/sales.sql:12`, `queries.jsonl:3`, `pg_stat_statements`
    placeholders: bool = False  # from a source that replaced literals by ? / $n (digests)


class DroppedStatement(BaseModel):
    origin: str
    reason: str  # a countable category: `not a query: DML (INSERT)`, `execution: timeout`, ...
    detail: str = ""
    sql: str = ""  # the first characters, for the report


class LoggedQueries(BaseModel):
    """The `logged_queries` asset: validated pairs from the company's own SQL, most frequent first."""

    database: str
    dialect: str
    pairs: list[Sample] = Field(default_factory=list)
    dropped: list[DroppedStatement] = Field(default_factory=list)
    read: dict[str, int] = Field(default_factory=dict)  # statements read per source kind
    templates: int = 0  # distinct templates among the single queries
    question_sources: dict[str, int] = Field(default_factory=dict)  # human | rule | llm
    unrenderable: dict[str, int] = Field(default_factory=dict)  # shape the offline renderer cannot express -> count
    notes: list[str] = Field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pairs)

    def dropped_by_reason(self) -> dict[str, int]:
        counts = Counter(d.reason for d in self.dropped)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
