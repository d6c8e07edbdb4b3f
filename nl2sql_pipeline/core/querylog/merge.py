"""raw_samples with a query log: log pairs first (up to `share` of the budget), then the generator.

>>> from nl2sql_pipeline.core.samples import Topic, TopicPlan
>>> plan = TopicPlan(database="d", dialect="sqlite", total=10, topics=[Topic(name="a", tables=["t"], count=6),
...                  Topic(name="b", tables=["u"], count=4)])
>>> [t.count for t in reduce_plan(plan, 3).topics]
[4, 3]
"""

from __future__ import annotations

import math

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.querylog.models import LoggedQueries
from nl2sql_pipeline.core.samples import RawSamples, Sample, TopicPlan


def load_logged(stored: object, db: DatabaseConfig) -> LoggedQueries | None:
    """The stored logged_queries value for a database with a query_log; a clear error when missing."""
    if db.query_log is None:
        return None
    if stored is None:
        raise ConfigError(
            f"Database {db.name!r} has a query_log but logged_queries was not materialized for it.",
            "materialize logged_queries for this partition first (data_create_job runs it before raw_samples).")
    return stored if isinstance(stored, LoggedQueries) else LoggedQueries.model_validate(stored)


def log_quota(db: DatabaseConfig) -> int:
    """At most this many log pairs: `query_log.share` of `sample_budget`, rounded down."""
    return math.floor(db.query_log.share * db.sample_budget + 1e-9) if db.query_log else 0


def take_log_pairs(logged: LoggedQueries | None, db: DatabaseConfig) -> list[Sample]:
    """The most frequent log pairs up to the quota (the asset keeps them most frequent first)."""
    if logged is None:
        return []
    return list(logged.pairs[: log_quota(db)])


def reduce_plan(plan: TopicPlan, taken: int) -> TopicPlan:
    """The plan with `taken` fewer samples, topics shrunk in proportion (largest remainder)."""
    if taken <= 0:
        return plan
    remaining = max(plan.total - taken, 0)
    weights = [t.count for t in plan.topics]
    whole = sum(weights) or 1
    shares = [remaining * w / whole for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in by_remainder[: remaining - sum(counts)]:
        counts[i] += 1
    topics = [t.model_copy(update={"count": c}) for t, c in zip(plan.topics, counts, strict=True)]
    note = f"{taken} of {plan.total} samples come from the query log; the generator makes {remaining}"
    return plan.model_copy(update={"total": remaining, "topics": topics, "notes": [*plan.notes, note]})


def with_log_pairs(generated: RawSamples, log_pairs: list[Sample], logged: LoggedQueries | None) -> RawSamples:
    """Log pairs first, then the generated ones; notes give both counts and the log's drops."""
    if logged is None:
        return generated
    notes = [f"query log: {len(log_pairs)} pairs (of {len(logged.pairs)} validated, from {logged.templates} "
             f"templates), generator: {len(generated.samples)} pairs"]
    notes += [f"query log dropped: {reason}: {n}" for reason, n in logged.dropped_by_reason().items()]
    return generated.model_copy(update={"samples": [*log_pairs, *generated.samples], "notes": [*notes, *generated.notes]})
