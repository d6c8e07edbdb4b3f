"""Stage B with an LLM: per-topic NL/SQL generation, concurrent across topics, with top-up.

Mode `llm`: the LLM writes question and SQL. A topic still short after validation (and, with
`round_trip`, the round-trip check) asks again for the shortfall only, listing what exists, for
`topup_rounds` rounds; then the offline synthesizer fills the rest (if `offline_fill`). Mode
`llm-sql-first` (OmniSQL): SQL comes from the offline synthesizer and has run on the database;
the LLM writes the question for it in a chosen style.

Validation and the offline synthesizer come in as functions (`accept`, `synthesize`; build them
with `validated_by` and `synthesized_by`), so the loop can be tested and reused on its own; the
prompts live in `prompting`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from nl2sql_pipeline.core.cards import TableCards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.llm.client import LLMClient
from nl2sql_pipeline.core.llm.parse import first_int, parse_items, pick
from nl2sql_pipeline.core.llm.prompting import (
    HARDNESS, Prompts, Values, chunks, normalize, questions_schema, samples_schema,
)
from nl2sql_pipeline.core.llm.roundtrip import round_trip
from nl2sql_pipeline.core.samples import RawSamples, Sample, SampleSource, Topic, TopicPlan
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.synthesis import synthesizer
from nl2sql_pipeline.core.validation.validator import validate_samples

log = logging.getLogger("nl2sql_pipeline.llm")

Accept = Callable[[list[Sample]], list[Sample]]  # the samples that pass validation
Synthesize = Callable[[Topic, int], list[Sample]]  # up to n offline samples for a topic
Mode = Literal["llm", "llm-sql-first"]
Check = Callable[[Topic, list[Sample]], Awaitable[list[Sample]]]  # the round-trip check

class Progress(Protocol):
    def info(self, msg: str) -> Any: ...


@dataclass
class TopicResult:
    topic: str
    requested: int
    samples: list[Sample] = field(default_factory=list)
    requests: int = 0
    parsed: int = 0
    rejected: int = 0
    duplicates: int = 0
    rounds: int = 0
    filled: int = 0
    truncated: int = 0
    round_trip_dropped: int | None = None  # None: the round-trip check was off

    def note(self) -> str:
        checked = "" if self.round_trip_dropped is None else f", {self.round_trip_dropped} dropped by the round trip"
        return (f"topic {self.topic!r}: {len(self.samples)}/{self.requested} samples; {self.requests} LLM answers "
                f"({self.truncated} truncated), {self.parsed} items parsed, {self.rejected} rejected by validation, "
                f"{self.duplicates} duplicates, {self.rounds} top-up round(s), {self.filled} filled offline{checked}")


def _samples(text: str, topic: Topic, prompts: Prompts, source: SampleSource, round_no: int) -> list[Sample]:
    out = []
    for item in parse_items(text).items:
        question, sql = pick(item, "question", "nl", "问题", "query_text"), pick(item, "sql", "query", "SQL语句")
        if not isinstance(question, str) or not isinstance(sql, str) or not question.strip() or not sql.strip():
            continue
        hardness = str(pick(item, "hardness", "difficulty", "难度") or "").lower()
        out.append(Sample(database=prompts.db.name, topic=topic.name, question=question.strip(), sql=sql.strip(),
                          language=prompts.language, source=source,
                          hardness=hardness if hardness in HARDNESS else None,  # type: ignore[arg-type]
                          meta={"round": round_no, **({"style": str(st)} if (st := pick(item, "style")) else {})}))
    return out


def _fresh(result: TopicResult, candidates: list[Sample], seen: set[str]) -> list[Sample]:
    fresh = []
    for s in candidates:
        key_sql, key_q = "sql:" + normalize(s.sql), "q:" + normalize(s.question)
        if key_sql in seen or key_q in seen:
            result.duplicates += 1
            continue
        seen.update((key_sql, key_q))
        fresh.append(s)
    return fresh


def _admit(result: TopicResult, candidates: list[Sample], accept: Accept | None, seen: set[str]) -> None:
    fresh = _fresh(result, candidates, seen)
    good = accept(fresh) if accept and fresh else fresh
    result.rejected += len(fresh) - len(good)
    result.samples.extend(good[: max(0, result.requested - len(result.samples))])


async def _llm_topic(prompts: Prompts, client: LLMClient, topic: Topic, accept: Accept | None,
                     synthesize: Synthesize | None, check: Check | None = None) -> TopicResult:
    result = TopicResult(topic.name, topic.count, round_trip_dropped=0 if check else None)
    seen: set[str] = set()
    s = prompts.settings
    for round_no in range(s.topup_rounds + 1):
        short = topic.count - len(result.samples)
        if short <= 0:
            break
        result.rounds = round_no
        asks = [(prompts.generation_prompt(topic, n, i, result.samples, round_no), n)
                for i, n in enumerate(chunks(short, s.batch_size))]
        answers = await asyncio.gather(*(
            client.acomplete([{"role": "user", "content": p}], schema=samples_schema(n), schema_name="samples",
                             max_tokens=s.max_tokens) for p, n in asks))
        candidates = []
        for answer in answers:
            result.requests += 1
            result.truncated += answer.truncated
            parsed = _samples(answer.text, topic, prompts, "llm" if round_no == 0 else "top-up", round_no)
            candidates += client.masker.restored(parsed) if client.masker else parsed
        result.parsed += len(candidates)
        fresh = _fresh(result, candidates, seen)
        good = accept(fresh) if accept and fresh else fresh
        result.rejected += len(fresh) - len(good)
        if check is not None and good:  # the LLM's pairs only: the synthesizer writes its questions from its SQL
            kept = await check(topic, good)
            result.round_trip_dropped += len(good) - len(kept)  # type: ignore[operator]
            good = kept
        result.samples.extend(good[: max(0, result.requested - len(result.samples))])
    short = topic.count - len(result.samples)
    if short > 0 and s.offline_fill and synthesize is not None:
        before = len(result.samples)
        filled = [x.model_copy(update={"meta": {**x.meta, "fill": "llm shortfall"}}) for x in synthesize(topic, short)]
        _admit(result, filled, accept, seen)
        result.filled = len(result.samples) - before
    return result


async def _sql_first_topic(prompts: Prompts, client: LLMClient, topic: Topic, accept: Accept | None,
                           synthesize: Synthesize) -> TopicResult:
    result = TopicResult(topic.name, topic.count)
    base = synthesize(topic, topic.count)
    good = accept(base) if accept and base else base
    result.rejected = len(base) - len(good)
    questions: dict[int, str] = {}
    masker = client.masker
    for sample in good if masker else []:
        masker.register_sql(sample.sql)  # type: ignore[union-attr]
    # `pii.mode: drop`: SQL that shows a sensitive value is never sent; it keeps its template question.
    withheld = {i for i, x in enumerate(good) if masker and masker.mode == "drop" and masker.mask(x.sql) != x.sql}
    s = prompts.settings
    for round_no in range(s.topup_rounds + 1):
        missing = [i for i in range(len(good)) if i not in questions and i not in withheld]
        if not missing:
            break
        result.rounds = round_no
        groups = [missing[i:i + s.batch_size] for i in range(0, len(missing), s.batch_size)]
        texts = [prompts.question_prompt(topic, [good[i].sql for i in g], round_no + j) for j, g in enumerate(groups)]
        answers = await asyncio.gather(*(
            client.acomplete([{"role": "user", "content": p}], schema=questions_schema(len(g)),
                             schema_name="questions", max_tokens=s.max_tokens) for p, g in zip(texts, groups)))
        for group, answer in zip(groups, answers, strict=True):
            result.requests += 1
            result.truncated += answer.truncated
            items = parse_items(answer.text).items
            result.parsed += len(items)
            for pos, item in enumerate(items):
                number = first_int(pick(item, "id", "编号"))
                idx = group[number - 1] if number and 1 <= number <= len(group) else (group[pos] if pos < len(group) else None)
                question = pick(item, "question", "问题")
                if idx is not None and isinstance(question, str) and question.strip():
                    questions.setdefault(idx, masker.unmask(question.strip()) if masker else question.strip())
    for i, sample in enumerate(good):
        if i in questions:
            result.samples.append(sample.model_copy(update={
                "question": questions[i], "source": "llm-sql-first", "language": prompts.language,
                "meta": {**sample.meta, "template_question": sample.question}}))
        else:
            why = "pii: not sent" if i in withheld else "no LLM question"
            result.samples.append(sample.model_copy(update={"meta": {**sample.meta, "fill": why}}))
            result.filled += 1
    return result


def validated_by(meta: SchemaMetadata, executor: ReadOnlyExecutor | None, keep_empty: bool = True) -> Accept:
    """Validation (syntax, schema, execution) as the generator's `accept`: top-up counts these."""

    def accept(samples: list[Sample]) -> list[Sample]:
        raw = RawSamples(database=meta.database, dialect=meta.dialect, samples=samples)
        return [v.sample for v in validate_samples(raw, meta, executor, keep_empty=keep_empty).items if v.accepted]

    return accept


def synthesized_by(meta: SchemaMetadata, executor: ReadOnlyExecutor | None, db: DatabaseConfig) -> Synthesize:
    """The offline synthesizer for one topic, as the generator's `synthesize`."""

    def fill(topic: Topic, count: int) -> list[Sample]:
        plan = TopicPlan(database=db.name, dialect=meta.dialect, total=count,
                         topics=[topic.model_copy(update={"count": count})])
        return synthesizer.synthesize(plan, meta, executor, db).samples

    return fill


def generate_with_llm(plan: TopicPlan, cards: TableCards, db: DatabaseConfig, client: LLMClient, *,
                      mode: Mode = "llm", accept: Accept | None = None, synthesize: Synthesize | None = None,
                      values: Values | None = None, progress: Progress | None = None,
                      executor: ReadOnlyExecutor | None = None) -> RawSamples:
    """Samples for every topic of `plan`; topics run concurrently within the client's bound.
    With `generator.round_trip` (mode `llm`), `executor` runs both queries of the check.

    Endpoint failures raise `LLMError` after the client's retries; answers already received are
    in the response cache, so the next run repeats only what was in flight.
    """
    if mode == "llm-sql-first" and synthesize is None:
        raise ValueError("mode llm-sql-first needs the offline synthesizer (synthesize=...) for its SQL")
    prompts = Prompts(cards, db, client.settings.generator, values)
    reporter = progress or log
    check: Check | None = None
    if mode == "llm" and client.settings.generator.round_trip:
        if executor is None:
            raise ValueError("generator.round_trip needs the read-only executor (executor=...) to compare results")
        check = lambda topic, good: round_trip(prompts, client, topic, good, executor)  # noqa: E731

    async def run() -> list[TopicResult]:
        done, total_samples = 0, 0

        async def one(topic: Topic) -> TopicResult:
            nonlocal done, total_samples
            if mode == "llm-sql-first":
                res = await _sql_first_topic(prompts, client, topic, accept, synthesize)  # type: ignore[arg-type]
            else:
                res = await _llm_topic(prompts, client, topic, accept, synthesize, check)
            done, total_samples = done + 1, total_samples + len(res.samples)
            reporter.info(f"LLM generation: {done}/{len(plan.topics)} topics done ({topic.name}: "
                          f"{len(res.samples)}/{topic.count}), {total_samples} samples so far")
            return res

        try:
            return list(await asyncio.gather(*(one(t) for t in plan.topics if t.count > 0)))
        finally:
            await client.aclose()

    results = asyncio.run(run())
    samples = [x for r in results for x in r.samples]
    stats = client.stats.as_dict()
    notes = [r.note() for r in results] + ([client.masker.note()] if client.masker else []) + [
        f"LLM {mode}: {len(samples)}/{plan.total} samples; requests {stats['requests']}, cache hits "
        f"{stats['cache_hits']}, retries {stats['retries']}"]
    return RawSamples(database=db.name, dialect=cards.dialect, samples=samples, notes=notes)
