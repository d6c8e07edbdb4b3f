"""Stage B with an LLM: per-topic NL/SQL generation, concurrent across topics, with top-up.

Mode `llm`: the LLM writes question and SQL. A topic still short after validation asks again for
the shortfall only, listing what exists, for `topup_rounds` rounds; then the offline synthesizer
fills the rest (if `offline_fill`). Mode `llm-sql-first` (OmniSQL): SQL comes from the offline
synthesizer and has run on the database; the LLM writes the question for it in a chosen style.

Validation and the offline synthesizer come in as functions (`accept`, `synthesize`; build them
with `validated_by` and `synthesized_by`), so the loop can be tested and reused on its own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sqlglot import exp

from nl2sql_pipeline.core.cards import TableCards, estimate_tokens
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.llm.client import LLMClient
from nl2sql_pipeline.core.llm.parse import first_int, parse_items, pick
from nl2sql_pipeline.core.metadata import SchemaMetadata
from nl2sql_pipeline.core.planning import is_chinese
from nl2sql_pipeline.core.samples import RawSamples, Sample, Topic, TopicPlan
from nl2sql_pipeline.core.synthesis import synthesizer
from nl2sql_pipeline.core.validation.validator import validate_samples
from nl2sql_pipeline.prompts import render

log = logging.getLogger("nl2sql_pipeline.llm")

Accept = Callable[[list[Sample]], list[Sample]]  # the samples that pass validation
Synthesize = Callable[[Topic, int], list[Sample]]  # up to n offline samples for a topic
Values = Callable[[Topic], str]  # sampled values to show in the prompt ("" for none)
Mode = Literal["llm", "llm-sql-first"]

DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL", "tsql": "SQL Server",
                 "duckdb": "DuckDB", "oracle": "Oracle"}
DIALECT_RULES = {
    "tsql": "Use TOP n, never LIMIT; quote identifiers with [brackets]; use GETDATE()/DATEADD for dates.",
    "mysql": "Use LIMIT n; quote identifiers with `backticks` when needed; use DATE_FORMAT/YEAR() for dates.",
    "postgres": "Use LIMIT n; quote mixed-case identifiers with \"double quotes\"; use EXTRACT/date_trunc for dates.",
    "sqlite": "Use LIMIT n; use strftime() for dates; there is no RIGHT or FULL JOIN.",
    "duckdb": "Use LIMIT n; use date_trunc/strftime for dates.",
    "oracle": "Use FETCH FIRST n ROWS ONLY, never LIMIT.",
}
HARDNESS = ("easy", "medium", "hard", "extra")


def samples_schema(count: int) -> dict[str, Any]:
    """`{"samples": [...]}` as a JSON schema (enforced by vLLM; an object top level also suits
    json_object endpoints such as DeepSeek's). Bounded lengths keep weak models' answers finite."""
    item = {"type": "object", "additionalProperties": False,
            "required": ["question", "sql", "hardness", "style"],
            "properties": {"question": {"type": "string", "minLength": 1, "maxLength": 300},
                           "sql": {"type": "string", "minLength": 1, "maxLength": 1200},
                           "hardness": {"type": "string", "enum": list(HARDNESS)},
                           "style": {"type": "string", "maxLength": 60}}}
    return {"type": "object", "additionalProperties": False, "required": ["samples"],
            "properties": {"samples": {"type": "array", "items": item, "minItems": 1, "maxItems": count}}}


def questions_schema(count: int) -> dict[str, Any]:
    item = {"type": "object", "additionalProperties": False, "required": ["id", "question"],
            "properties": {"id": {"type": "integer", "minimum": 1, "maximum": count},
                           "question": {"type": "string", "minLength": 1, "maxLength": 300}}}
    return {"type": "object", "additionalProperties": False, "required": ["questions"],
            "properties": {"questions": {"type": "array", "items": item, "minItems": 1, "maxItems": count}}}


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

    def note(self) -> str:
        return (f"topic {self.topic!r}: {len(self.samples)}/{self.requested} samples; {self.requests} LLM answers "
                f"({self.truncated} truncated), {self.parsed} items parsed, {self.rejected} rejected by validation, "
                f"{self.duplicates} duplicates, {self.rounds} top-up round(s), {self.filled} filled offline")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().rstrip(";")).lower()


def allocate(count: int, mix: dict[str, float]) -> dict[str, int]:
    """`count` split by the hardness mix, largest remainder first, summing exactly to `count`."""
    weights = {h: max(mix.get(h, 0.0), 0.0) for h in HARDNESS}
    total = sum(weights.values()) or 1.0
    shares = {h: count * w / total for h, w in weights.items()}
    out = {h: int(s) for h, s in shares.items()}
    for h in sorted(HARDNESS, key=lambda h: -(shares[h] - out[h]))[: count - sum(out.values())]:
        out[h] += 1
    return out


def chunks(count: int, size: int) -> list[int]:
    n = max(1, math.ceil(count / size))
    return [count // n + (1 if i < count % n else 0) for i in range(n)]


class _Context:
    """What every request of one database shares."""

    def __init__(self, cards: TableCards, db: DatabaseConfig, client: LLMClient, values: Values | None) -> None:
        self.cards, self.db, self.client, self.values = cards, db, client, values
        self.settings = client.settings.generator
        self.language = db.language or ("zh" if is_chinese(cards) else "en")
        self.dialect = cards.dialect
        self.dialect_name = DIALECT_NAMES.get(cards.dialect, cards.dialect)

    def ddl(self, topic: Topic) -> tuple[str, str]:
        """DDL and card text of the topic's tables, trimmed to the context budget."""
        tables = self.cards.fit(topic.tables, self.settings.context_budget_tokens // 2)
        ddl = "\n\n".join(c.ddl for t in tables if (c := self.cards.card(t)))
        text = self.cards.render(tables)
        if estimate_tokens(ddl) + estimate_tokens(text) > self.settings.context_budget_tokens:
            text = "(see the DDL above)"
        return ddl, text

    def generation_prompt(self, topic: Topic, count: int, batch: int, existing: list[Sample], round_no: int) -> str:
        s = self.settings
        ddl, text = self.ddl(topic)
        mix = allocate(count, self.db.synthesis.hardness_mix)
        turn = batch % len(s.question_styles)
        styles = s.question_styles[turn:] + s.question_styles[:turn]
        listed = existing[-s.existing_listed:] if s.existing_listed else []
        zh = self.language == "zh"
        section = ""
        if round_no:  # a top-up asks for the shortfall only and never repeats an earlier prompt
            section = (f"\n(第 {round_no} 轮补充)之前的回答还缺 {count} 条可用样本。" if zh else
                       f"\n(Top-up round {round_no}.) Earlier answers left {count} usable samples missing.")
            if not listed:
                section += "请严格只输出要求的 JSON 对象。\n" if zh else " Output the required JSON object only.\n"
        if listed:
            section += (f"\n以下 {len(existing)} 条样本已经存在,不要重复它们的问题或 SQL,只需再写 {count} 条新的:\n" if zh else
                        f"\nThese {len(existing)} samples already exist; do not repeat their questions or SQL, "
                        f"write {count} new ones only:\n")
            section += "\n".join(f"- {x.question} | {_norm(x.sql)}" for x in listed) + "\n"
        if batch:
            section += f"\n(第 {batch + 1} 批,请换一些角度和列)\n" if zh else f"\n(Batch {batch + 1}: use other angles and columns.)\n"
        values = self.values(topic) if self.values else ""
        return render(f"generator_{self.language}", dialect_name=self.dialect_name, topic=topic.name,
                      reason=topic.reason or "-", ddl=ddl, cards=text, values=f"\n{values}\n" if values else "",
                      count=count, dialect_rules=DIALECT_RULES.get(self.dialect, ""),
                      hardness=", ".join(f"{h} {n}" for h, n in mix.items() if n),
                      styles="; ".join(styles), existing=section)


def _samples(text: str, topic: Topic, ctx: _Context, source: str, round_no: int) -> list[Sample]:
    out = []
    for item in parse_items(text).items:
        question, sql = pick(item, "question", "nl", "问题", "query_text"), pick(item, "sql", "query", "SQL语句")
        if not isinstance(question, str) or not isinstance(sql, str) or not question.strip() or not sql.strip():
            continue
        hardness = str(pick(item, "hardness", "difficulty", "难度") or "").lower()
        out.append(Sample(database=ctx.db.name, topic=topic.name, question=question.strip(), sql=sql.strip(),
                          language=ctx.language, source=source,  # type: ignore[arg-type]
                          hardness=hardness if hardness in HARDNESS else None,  # type: ignore[arg-type]
                          meta={"round": round_no, **({"style": str(st)} if (st := pick(item, "style")) else {})}))
    return out


def _admit(result: TopicResult, candidates: list[Sample], accept: Accept | None, seen: set[str]) -> None:
    fresh = []
    for s in candidates:
        key_sql, key_q = "sql:" + _norm(s.sql), "q:" + _norm(s.question)
        if key_sql in seen or key_q in seen:
            result.duplicates += 1
            continue
        seen.update((key_sql, key_q))
        fresh.append(s)
    good = accept(fresh) if accept and fresh else fresh
    result.rejected += len(fresh) - len(good)
    result.samples.extend(good[: max(0, result.requested - len(result.samples))])


async def _llm_topic(ctx: _Context, topic: Topic, accept: Accept | None, synthesize: Synthesize | None) -> TopicResult:
    result = TopicResult(topic.name, topic.count)
    seen: set[str] = set()
    s = ctx.settings
    for round_no in range(s.topup_rounds + 1):
        short = topic.count - len(result.samples)
        if short <= 0:
            break
        result.rounds = round_no
        asks = [(ctx.generation_prompt(topic, n, i, result.samples, round_no), n)
                for i, n in enumerate(chunks(short, s.batch_size))]
        answers = await asyncio.gather(*(
            ctx.client.acomplete([{"role": "user", "content": p}], schema=samples_schema(n), schema_name="samples",
                                 max_tokens=s.max_tokens) for p, n in asks))
        candidates = []
        for answer in answers:
            result.requests += 1
            result.truncated += answer.truncated
            candidates += _samples(answer.text, topic, ctx, "llm" if round_no == 0 else "top-up", round_no)
        result.parsed += len(candidates)
        _admit(result, candidates, accept, seen)
    short = topic.count - len(result.samples)
    if short > 0 and s.offline_fill and synthesize is not None:
        before = len(result.samples)
        filled = [x.model_copy(update={"meta": {**x.meta, "fill": "llm shortfall"}}) for x in synthesize(topic, short)]
        _admit(result, filled, accept, seen)
        result.filled = len(result.samples) - before
    return result


async def _sql_first_topic(ctx: _Context, topic: Topic, accept: Accept | None, synthesize: Synthesize) -> TopicResult:
    result = TopicResult(topic.name, topic.count)
    base = synthesize(topic, topic.count)
    good = accept(base) if accept and base else base
    result.rejected = len(base) - len(good)
    questions: dict[int, str] = {}
    s = ctx.settings
    for round_no in range(s.topup_rounds + 1):
        missing = [i for i in range(len(good)) if i not in questions]
        if not missing:
            break
        result.rounds = round_no
        groups = [missing[i:i + s.batch_size] for i in range(0, len(missing), s.batch_size)]
        prompts = [question_prompt(ctx, topic, good, g, round_no + j) for j, g in enumerate(groups)]
        answers = await asyncio.gather(*(
            ctx.client.acomplete([{"role": "user", "content": p}], schema=questions_schema(len(g)),
                                 schema_name="questions", max_tokens=s.max_tokens) for p, g in zip(prompts, groups)))
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
                    questions.setdefault(idx, question.strip())
    for i, sample in enumerate(good):
        if i in questions:
            result.samples.append(sample.model_copy(update={
                "question": questions[i], "source": "llm-sql-first", "language": ctx.language,
                "meta": {**sample.meta, "template_question": sample.question}}))
        else:
            result.samples.append(sample.model_copy(update={"meta": {**sample.meta, "fill": "no LLM question"}}))
            result.filled += 1
    return result


def question_prompt(ctx: _Context, topic: Topic, good: list[Sample], group: list[int], batch: int) -> str:
    ddl, _ = ctx.ddl(topic)
    styles = ctx.settings.question_styles
    sql_list = "\n".join(f"{n}. {_norm(good[i].sql)}" for n, i in enumerate(group, start=1))
    return render(f"question_{ctx.language}", topic=topic.name, dialect_name=ctx.dialect_name, ddl=ddl,
                  style=styles[batch % len(styles)], sql_list=sql_list)


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


def value_lines(executor: ReadOnlyExecutor, meta: SchemaMetadata, db: DatabaseConfig, per_column: int) -> Values:
    """Real values of a topic's text and date columns for the prompt (only where `db.may_sample`);
    literals that exist make the LLM's filters return rows."""

    def values(topic: Topic) -> str:
        lines = []
        for name in topic.tables:
            table = meta.table(name)
            for col in table.columns if table else []:
                if col.type not in ("text", "date", "datetime") or not db.may_sample(table.name, col.name):
                    continue
                column = exp.column(col.name, quoted=True)
                query = (exp.select(column).distinct().from_(exp.to_table(table.name, quoted=True))
                         .where(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null()))).limit(per_column))
                result = executor.execute(query.sql(dialect=meta.dialect), row_cap=per_column)
                if result.ok and result.rows:
                    lines.append(f"- {table.name}.{col.name}: " + ", ".join(str(r[0])[:40] for r in result.rows))
        return ("Sample values (real data):\n" + "\n".join(lines)) if lines else ""

    return values


def generate_with_llm(plan: TopicPlan, cards: TableCards, db: DatabaseConfig, client: LLMClient, *,
                      mode: Mode = "llm", accept: Accept | None = None, synthesize: Synthesize | None = None,
                      values: Values | None = None, progress: Progress | None = None) -> RawSamples:
    """Samples for every topic of `plan`; topics run concurrently within the client's bound.

    Endpoint failures raise `LLMError` after the client's retries; answers already received are
    in the response cache, so the next run repeats only what was in flight.
    """
    if mode == "llm-sql-first" and synthesize is None:
        raise ValueError("mode llm-sql-first needs the offline synthesizer (synthesize=...) for its SQL")
    ctx = _Context(cards, db, client, values)
    reporter = progress or log

    async def run() -> list[TopicResult]:
        done, total_samples = 0, 0

        async def one(topic: Topic) -> TopicResult:
            nonlocal done, total_samples
            if mode == "llm-sql-first":
                res = await _sql_first_topic(ctx, topic, accept, synthesize)  # type: ignore[arg-type]
            else:
                res = await _llm_topic(ctx, topic, accept, synthesize)
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
    notes = [r.note() for r in results] + [
        f"LLM {mode}: {len(samples)}/{plan.total} samples; requests {stats['requests']}, cache hits "
        f"{stats['cache_hits']}, retries {stats['retries']}"]
    return RawSamples(database=db.name, dialect=cards.dialect, samples=samples, notes=notes)
