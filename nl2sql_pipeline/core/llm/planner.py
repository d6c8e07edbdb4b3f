"""Stage A with an LLM: the reference design's planning prompt, enforced JSON where the endpoint
supports it (table names constrained to the real tables), the offline plan validation, and the
offline plan when the LLM cannot produce a usable one.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

from nl2sql_pipeline.core.cards import TableCards, estimate_tokens
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.llm.client import LLMClient
from nl2sql_pipeline.core.llm.parse import first_int, parse_items, pick
from nl2sql_pipeline.core.planning import fk_graph, is_chinese, plan_topics, validate_plan
from nl2sql_pipeline.core.samples import Topic, TopicPlan
from nl2sql_pipeline.prompts import render

log = logging.getLogger("nl2sql_pipeline.llm")


def plan_schema(tables: list[str], max_tables: int, dialect: str) -> dict[str, Any]:
    """The plan as a JSON schema; with vLLM's structured output a table name can only be a real one.

    Lengths are bounded so that even a weak model's enforced answer ends within max_tokens.
    """
    topic = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 60},
            "tables": {"type": "array", "items": {"type": "string", "enum": tables}, "minItems": 1,
                       "maxItems": max_tables},
            "reason": {"type": "string", "maxLength": 200},
            "count": {"type": "integer", "minimum": 1},
            "dialect": {"type": "string", "enum": [dialect]},
        },
        "required": ["name", "tables", "reason", "count", "dialect"],
        "additionalProperties": False,
    }
    return {"type": "object", "properties": {"topics": {"type": "array", "items": topic, "minItems": 1,
                                                             "maxItems": max(1, len(tables))}},
            "required": ["topics"], "additionalProperties": False}


def compressed_view(cards: TableCards) -> str:
    """Table names and comments plus the FK graph: a fraction of the cards' tokens."""
    graph = fk_graph(cards)
    lines = [f"- {c.table}" + (f": {c.comment}" if c.comment else "") for c in cards.cards]
    edges = sorted({f"{a} - {b}" for a, nbs in graph.items() for b in nbs if a < b})
    return "\n".join(["Tables:", *lines, "Foreign-key links:", *(f"  {e}" for e in edges or ["(none)"])])


def schema_view(cards: TableCards, budget: int, offline: TopicPlan, chinese: bool) -> tuple[str, str, str]:
    """(cards text, extra instructions, view name) fitting `budget` tokens."""
    full = cards.render()
    if estimate_tokens(full) <= budget:
        return full, "", "cards"
    short = compressed_view(cards)
    if estimate_tokens(short) <= budget:
        return short, "", "compressed"
    # Too many tables even for names: the offline planner clusters, the LLM names and sizes.
    groups = "\n".join(f"- {', '.join(t.tables)}" for t in offline.topics)
    extra = ("\n以下是按外键聚类得到的候选表组,请为每组命名、说明理由并分配 count(可合并或拆分):\n"
             if chinese else
             "\nCandidate table groups clustered along foreign keys; name each, give a reason and a count "
             "(you may merge or split them):\n") + groups
    return f"{len(cards.cards)} tables (too many to list in full).", extra, "clustered"


def _clean(value: object, limit: int) -> str:
    """One line of printable text: topic names end up in prompts, sample records and the UI."""
    return re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", str(value or ""))).strip()[:limit]


def topics_from_answer(text: str, dialect: str) -> list[Topic]:
    topics = []
    for item in parse_items(text).items:
        tables = pick(item, "tables", "table", "表")
        if isinstance(tables, str):
            tables = [t.strip() for t in tables.replace("、", ",").split(",") if t.strip()]
        if not isinstance(tables, list) or not tables:
            continue
        name = _clean(pick(item, "name", "topic", "主题"), 60)
        topics.append(Topic(name=name, tables=[str(t) for t in tables],
                            reason=_clean(pick(item, "reason", "理由"), 200),
                            count=max(0, first_int(pick(item, "count", "数量")) or 0), dialect=dialect))
    return topics


def plan_with_llm(cards: TableCards, db: DatabaseConfig, client: LLMClient, total: int | None = None) -> TopicPlan:
    """A validated plan from the LLM, or the offline plan with the reason in `source` and `notes`.

    Endpoint failures (unreachable, timing out after retries) raise `LLMError`: a misconfigured
    endpoint must be fixed, not hidden behind offline data.
    """
    settings = client.settings.planner
    cfg, total = db.planning, total if total is not None else db.sample_budget
    chinese = is_chinese(cards)
    language = (db.language or ("zh" if chinese else "en")) if settings.template == "auto" else settings.template
    offline = plan_topics(cards, total, cfg)
    text, extra, view = schema_view(cards, settings.context_budget_tokens, offline, language == "zh")
    prompt = render(f"planner_{language}", table_cards_text=text, extra=extra, min_tables=cfg.min_tables,
                    max_tables=cfg.max_tables, total_samples=total, min_per_topic=cfg.min_per_topic,
                    dialect=cards.dialect)
    messages = [{"role": "user", "content": prompt}]
    schema = plan_schema([c.table for c in cards.cards], cfg.max_tables, cards.dialect)
    problems: list[str] = []
    for attempt in range(settings.attempts):
        answer = client.complete(messages, schema=schema, schema_name="topic_plan", max_tokens=settings.max_tokens,
                                 variant=f"plan-{attempt}")
        topics = topics_from_answer(answer.text, cards.dialect)
        if client.masker is not None:  # a topic named after a masked value gets the value back, locally
            topics = [t.model_copy(update={"name": client.masker.unmask(t.name),
                                           "reason": client.masker.unmask(t.reason)}) for t in topics]
        known = {c.table.lower() for c in cards.cards}
        if any(t.lower().strip('`"[] ') in known for topic in topics for t in topic.tables):
            draft = TopicPlan(database=cards.database, dialect=cards.dialect, total=total, topics=topics,
                              source="llm", notes=[f"planned over the {view} view, attempt {attempt + 1}"]
                              + [f"earlier attempt: {p}" for p in problems])
            return validate_plan(draft, cards, cfg, total)
        problem = ("answer cut off at max_tokens before a complete topic" if answer.truncated and not topics
                   else "no topic with a known table in the answer")
        problems.append(problem)
        log.warning("LLM plan attempt %d/%d unusable: %s", attempt + 1, settings.attempts, problem)
        # Ask again with the problem stated (a repeated identical prompt would only hit the cache).
        messages = [{"role": "user", "content": prompt},
                    {"role": "assistant", "content": answer.text[:2000]},
                    {"role": "user", "content": _repair(problem, language)}]
    reason = "; ".join(f"{p} (x{n})" if n > 1 else p for p, n in Counter(problems).items())
    return offline.model_copy(update={
        "source": f"llm (fell back to offline: {reason})",
        "notes": offline.notes + [f"LLM plan unusable after {settings.attempts} attempt(s): {reason}"],
    })


def _repair(problem: str, language: str) -> str:
    if language == "zh":
        return f"上面的回答无法使用({problem})。请只输出符合要求的 JSON 对象 {{\"topics\": [...]}},表名只能取自表卡片。"
    return (f"That answer could not be used ({problem}). Output only the JSON object {{\"topics\": [...]}} "
            "as specified, with table names taken from the cards.")
