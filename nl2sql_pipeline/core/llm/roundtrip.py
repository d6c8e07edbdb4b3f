"""The round-trip check of `generator: llm` (`generator.round_trip`, off by default): the LLM
writes SQL for each generated question without seeing the pair's own SQL, and the pair is kept
only when both queries return the same result (the same rows, as a multiset, and as many
columns). A question that reads two ways, or SQL that answers another question, rarely survives.

Both queries run through the read-only executor; every request goes through the client and its
response cache like any other call, so a rerun asks nothing again.
"""

from __future__ import annotations

import asyncio
import decimal
from typing import Any

from nl2sql_pipeline.core.evaluation.compare import results_match
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.llm.client import LLMClient
from nl2sql_pipeline.core.llm.parse import first_int, parse_items, pick
from nl2sql_pipeline.core.llm.prompting import Prompts, numbered_schema
from nl2sql_pipeline.core.samples import Sample, Topic


def _cell(value: Any) -> Any:
    """Numbers compared as numbers (5, 5.0 and Decimal('5.00') are one value), to 6 digits."""
    if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
        return value
    return round(float(value), 6)


def same_result(executor: ReadOnlyExecutor, sql: str, other: str) -> bool:
    """The evaluation's own test-suite comparison (rows a multiset, columns in any order), on
    numbers rounded so that two ways of computing one average agree."""
    mine, theirs = executor.execute(sql), executor.execute(other)
    if not (mine.ok and theirs.ok) or mine.truncated or theirs.truncated or len(mine.columns) != len(theirs.columns):
        return False
    return results_match([tuple(map(_cell, r)) for r in mine.rows], [tuple(map(_cell, r)) for r in theirs.rows],
                         order_matters=False)


def _answered(text: str, count: int) -> dict[int, str]:
    """Position in the batch -> the SQL the answer gives for it."""
    out: dict[int, str] = {}
    for pos, item in enumerate(parse_items(text).items):
        number = first_int(pick(item, "id", "编号"))
        idx = number - 1 if number and 1 <= number <= count else pos
        sql = pick(item, "sql", "query", "SQL", "SQL语句")
        if idx < count and isinstance(sql, str) and sql.strip():
            out.setdefault(idx, sql.strip())
    return out


async def round_trip(prompts: Prompts, client: LLMClient, topic: Topic, samples: list[Sample],
                     executor: ReadOnlyExecutor) -> list[Sample]:
    """The samples whose question, answered by the LLM as SQL, gives their own SQL's result;
    each kept one records the SQL it was checked against (`meta.round_trip_sql`)."""
    masker = client.masker
    # `pii.mode: drop`: a question that shows a sensitive value is not sent, so it cannot be checked.
    sendable = [s for s in samples if not (masker and masker.mode == "drop" and masker.mask(s.question) != s.question)]
    size = prompts.settings.batch_size
    groups = [sendable[i:i + size] for i in range(0, len(sendable), size)]
    answers = await asyncio.gather(*(
        client.acomplete([{"role": "user", "content": prompts.round_trip_prompt(topic, [s.question for s in g])}],
                         schema=numbered_schema("queries", "sql", len(g), 1200), schema_name="queries", max_tokens=prompts.settings.max_tokens,
                         temperature=0.0) for g in groups))
    kept = []
    for group, answer in zip(groups, answers, strict=True):
        for i, sql in _answered(answer.text, len(group)).items():
            other = masker.unmask_sql(sql) if masker else sql
            if same_result(executor, group[i].sql, other):
                kept.append(group[i].model_copy(update={"meta": {**group[i].meta, "round_trip_sql": other}}))
    return kept
