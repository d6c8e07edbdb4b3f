"""Stages A and B end to end against a real OpenAI-compatible server (`transformers serve` with
the tiny random model: free text, so every fallback runs), and the top-up and large-schema
logic against a scripted endpoint whose answers are known."""

from __future__ import annotations

import json
import re

import pytest

from nl2sql_pipeline.core.cards import build_cards, estimate_tokens
from nl2sql_pipeline.core.config import parse_databases
from nl2sql_pipeline.core.execution import executor_for
from nl2sql_pipeline.core.llm import LLMClient, LLMSettings
from nl2sql_pipeline.core.llm.generator import generate_with_llm, synthesized_by, validated_by
from nl2sql_pipeline.core.llm.planner import compressed_view, plan_with_llm
from nl2sql_pipeline.core.samples import Topic, TopicPlan
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.validation.validator import validate_samples
from nl2sql_pipeline_tests.core.llm.test_llm_client import Scripted, ok, scripted  # noqa: F401 (fixture)


def database(name: str, budget: int, generator: str = "llm", **extra: object):
    return parse_databases({"databases": [{"name": name, "demo": name, "sample_budget": budget,
                                           "generator": generator, **extra}]}).databases[0]


def llm_settings(url: str, model: str, **kw: object) -> LLMSettings:
    base = dict(base_url=url, model=model, max_tokens=48, timeout_s=60, max_retries=1, concurrency=4,
                planner={"attempts": 2}, generator={"batch_size": 4, "topup_rounds": 1})
    return LLMSettings(**{**base, **kw})


def assert_valid_plan(plan: TopicPlan, cards, total: int) -> None:
    known = {c.table for c in cards.cards}
    assert sum(t.count for t in plan.topics) == total and all(t.count >= 1 for t in plan.topics)
    assert all(t.tables and set(t.tables) <= known for t in plan.topics)


def test_planner_on_a_free_text_server_falls_back_to_a_valid_plan(openai_server: str, tiny_model) -> None:
    db = database("sales_cn", 60)
    cards = build_cards(read_schema(db))
    client = LLMClient(llm_settings(openai_server, str(tiny_model)))
    plan = plan_with_llm(cards, db, client)
    assert_valid_plan(plan, cards, 60)
    assert plan.source.startswith("llm (fell back to offline")
    assert any("LLM plan unusable after 2 attempt(s)" in n for n in plan.notes)
    assert client.stats.answered == 2  # the repair prompt differs, so the second attempt was a real request


@pytest.mark.parametrize("mode", ["llm", "llm-sql-first"])
def test_generation_end_to_end_on_a_free_text_server(openai_server: str, tiny_model, mode: str) -> None:
    db = database("concert_singer", 12, mode, language="en")
    meta = read_schema(db)
    cards = build_cards(meta)
    client = LLMClient(llm_settings(openai_server, str(tiny_model)))
    plan = plan_with_llm(cards, db, client)
    executor = executor_for(db)
    raw = generate_with_llm(plan, cards, db, client, mode=mode, accept=validated_by(meta, executor),
                            synthesize=synthesized_by(meta, executor, db))
    assert len(raw) == 12  # what the random model could not give, the offline synthesizer filled
    assert all(s.language == "en" and s.database == "concert_singer" for s in raw.samples)
    assert {s.topic for s in raw.samples} <= {t.name for t in plan.topics}
    checked = validate_samples(raw, meta, executor)
    assert all(v.passed for v in checked.items)
    assert client.stats.answered > 0 and any("LLM answers" in n for n in raw.notes)
    again = LLMClient(llm_settings(openai_server, str(tiny_model)))
    rerun = generate_with_llm(plan, cards, db, again, mode=mode, accept=validated_by(meta, executor),
                              synthesize=synthesized_by(meta, executor, db))
    assert again.stats.requests == 0 and rerun.samples == raw.samples  # cached: same data, no request


def _topic_samples(prompt: str, good: list[tuple[str, str]]) -> list[dict]:
    """The scripted model's answer: the first `n` of `good` not already listed in the prompt."""
    n = int(re.search(r"(?:Write|write) (\d+)", prompt).group(1))
    fresh = [(q, s) for q, s in good if q not in prompt]
    return [{"question": q, "sql": s, "hardness": "easy", "style": "direct"} for q, s in fresh[:n]]


def test_topup_asks_for_the_shortfall_listing_what_exists(scripted: list[Scripted]) -> None:  # noqa: F811
    db = database("concert_singer", 6, language="en")
    meta = read_schema(db)
    cards = build_cards(meta)
    good = [("How many singers are there?", "SELECT count(*) FROM singer"),
            ("List all stadium names.", "SELECT Name FROM stadium"),
            ("What is the largest stadium capacity?", "SELECT max(Capacity) FROM stadium"),
            ("Which singers are older than 30?", "SELECT Name FROM singer WHERE Age > 30")]
    prompts: list[str] = []

    def answer(body: dict) -> tuple[int, dict]:
        prompt = body["messages"][-1]["content"]
        prompts.append(prompt)
        items = _topic_samples(prompt, good)
        if len(prompts) == 1:  # first answer: one broken SQL, one duplicate, truncated prose around it
            items = items[:2] + [{"question": "Broken one", "sql": "SELECT nope FROM singer"}, items[0]]
            return 200, ok("Here:\n```json\n" + json.dumps({"samples": items}) + "\n```")
        return 200, ok(json.dumps({"samples": items}))

    server = Scripted([(200, {}, answer)])
    scripted.append(server)
    client = LLMClient(LLMSettings(base_url=server.url, model="m", generator={"batch_size": 10, "topup_rounds": 2}))
    plan = TopicPlan(database=db.name, dialect="sqlite", total=6,
                     topics=[Topic(name="music", tables=["singer", "stadium"], count=6)])
    executor = executor_for(db)
    raw = generate_with_llm(plan, cards, db, client, accept=validated_by(meta, executor),
                            synthesize=synthesized_by(meta, executor, db))
    assert len(raw) == 6
    assert len(prompts) == len(set(prompts)) == 3  # first ask + 2 bounded top-ups, never the same prompt
    assert "Write 6 distinct" in prompts[0]
    assert "write 4 new ones only" in prompts[1] and good[0][0] in prompts[1] and good[1][0] in prompts[1]
    assert "write 2 new ones only" in prompts[2]
    sources = [s.source for s in raw.samples]
    assert sources.count("llm") == 2 and sources.count("top-up") == 2 and sources.count("offline") == 2
    assert "1 rejected by validation, 1 duplicates, 2 top-up round(s), 2 filled offline" in raw.notes[0]


def test_large_schemas_are_planned_over_compressed_then_clustered_views(scripted: list[Scripted]) -> None:  # noqa: F811
    db = database("sales_cn", 40)
    cards = build_cards(read_schema(db))
    seen: list[str] = []

    def answer(body: dict) -> tuple[int, dict]:
        seen.append(body["messages"][0]["content"])
        return 200, ok('{"topics": [{"name": "订单", "tables": ["orders", "customers"], "reason": "", "count": 40}]}')

    server = Scripted([(200, {}, answer)])
    scripted.append(server)
    full, short = estimate_tokens(cards.render()), estimate_tokens(compressed_view(cards))
    for budget, marker in ((full, "columns:"), (full - 1, "Foreign-key links:"), (short - 1, "候选表组")):
        client = LLMClient(LLMSettings(base_url=server.url, model="m", cache=False,
                                       planner={"context_budget_tokens": budget}))
        plan = plan_with_llm(cards, db, client)
        assert marker in seen[-1] and plan.source == "llm"
        assert_valid_plan(plan, cards, 40)


def test_unreachable_endpoint_fails_the_stage_instead_of_faking_llm_data() -> None:
    from nl2sql_pipeline.core.llm import LLMError
    from nl2sql_pipeline_tests.llm_servers import refused_url

    db = database("concert_singer", 10)
    cards = build_cards(read_schema(db))
    client = LLMClient(LLMSettings(base_url=refused_url(), model="m", max_retries=1, backoff_s=0.01))
    with pytest.raises(LLMError, match="start the server or correct llm.base_url"):
        plan_with_llm(cards, db, client)
    plan = TopicPlan(database=db.name, dialect="sqlite", total=4, topics=[Topic(name="t", tables=["singer"], count=4)])
    with pytest.raises(LLMError):
        generate_with_llm(plan, cards, db, client)


def test_a_database_with_fewer_tables_than_min_tables_plans(scripted: list[Scripted], tmp_path) -> None:  # noqa: F811
    import sqlite3

    path = tmp_path / "one.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("create table visits (id integer primary key, city text, n integer)")
        conn.execute("insert into visits values (1, 'Berlin', 3)")
    db = parse_databases({"databases": [{"name": "one", "url": f"sqlite:///{path}", "sample_budget": 7,
                                         "planning": {"min_tables": 2, "max_tables": 3}}]}).databases[0]
    cards = build_cards(read_schema(db))
    answer = '{"topics": [{"name": "Visits", "tables": ["visits", "ghosts"], "reason": "", "count": 3}]}'
    server = Scripted([(200, {}, ok(answer))])
    scripted.append(server)
    plan = plan_with_llm(cards, db, LLMClient(LLMSettings(base_url=server.url, model="m")))
    assert plan.source == "llm" and [(t.tables, t.count) for t in plan.topics] == [(["visits"], 7)]
    assert any("unknown table 'ghosts' dropped" in n for n in plan.notes)


def test_sampled_values_reach_the_prompt_only_when_allowed(scripted: list[Scripted]) -> None:  # noqa: F811
    from nl2sql_pipeline.core.llm.prompting import value_lines

    prompts: list[str] = []

    def answer(body: dict) -> tuple[int, dict]:
        prompts.append(body["messages"][-1]["content"])
        return 200, ok("[]")

    server = Scripted([(200, {}, answer)])
    scripted.append(server)
    plan = TopicPlan(database="concert_singer", dialect="sqlite", total=2,
                     topics=[Topic(name="singers", tables=["singer"], count=2)])
    for no_sample, expect in (([], True), (["singer.Country"], False)):
        db = database("concert_singer", 2, language="en", synthesis={"no_sample": no_sample})
        meta = read_schema(db)
        client = LLMClient(LLMSettings(base_url=server.url, model="m", cache=False,
                                       generator={"topup_rounds": 0, "offline_fill": False}))
        generate_with_llm(plan, build_cards(meta), db, client, values=value_lines(executor_for(db), meta, db, 2))
        assert "Sample values (real data):" in prompts[-1]
        assert ("- singer.Country: " in prompts[-1]) is expect
    client = LLMClient(LLMSettings(base_url=server.url, model="m", cache=False, generator={"topup_rounds": 0}))
    generate_with_llm(plan, build_cards(meta), db, client)  # values off: the default
    assert "Sample values" not in prompts[-1]


ROUND_TRIP_PAIRS = [("How many singers are there?", "SELECT count(*) FROM singer"),
                    ("List all stadium names.", "SELECT Name FROM stadium"),
                    ("What is the largest stadium capacity?", "SELECT max(Capacity) FROM stadium")]


def _round_trip_server(prompts: list[str]) -> Scripted:
    """Generation prompts get ROUND_TRIP_PAIRS; round-trip prompts get, per question, SQL that
    returns the same rows in other words, SQL that answers something else, and nothing."""
    answers = {"How many singers are there?": "SELECT COUNT(singer_id) AS n FROM singer",
               "List all stadium names.": "SELECT Location FROM stadium"}

    def answer(body: dict) -> tuple[int, dict]:
        prompt = body["messages"][-1]["content"]
        prompts.append(prompt)
        if '"queries"' not in prompt:
            return 200, ok(json.dumps({"samples": _topic_samples(prompt, ROUND_TRIP_PAIRS)}))
        asked = re.findall(r"^(\d+)\. (.+)$", prompt, re.MULTILINE)
        return 200, ok(json.dumps({"queries": [{"id": int(n), "sql": answers[q]} for n, q in asked if q in answers]}))

    return Scripted([(200, {}, answer)])


@pytest.mark.parametrize("round_trip", [False, True])
def test_round_trip_keeps_pairs_whose_question_gives_the_same_result(scripted: list[Scripted],  # noqa: F811
                                                                      round_trip: bool) -> None:
    db = database("concert_singer", 3, language="en")
    meta = read_schema(db)
    prompts: list[str] = []
    server = _round_trip_server(prompts)
    scripted.append(server)
    client = LLMClient(LLMSettings(base_url=server.url, model="m", cache=False,
                                   generator={"batch_size": 10, "topup_rounds": 0, "offline_fill": False,
                                              "round_trip": round_trip}))
    plan = TopicPlan(database=db.name, dialect="sqlite", total=3,
                     topics=[Topic(name="music", tables=["singer", "stadium"], count=3)])
    executor = executor_for(db)
    raw = generate_with_llm(plan, build_cards(meta), db, client, accept=validated_by(meta, executor),
                            executor=executor)
    checks = [p for p in prompts if '"queries"' in p]
    if not round_trip:  # off by default: no check, every valid pair stays
        assert not checks and [s.question for s in raw.samples] == [q for q, _ in ROUND_TRIP_PAIRS]
        return
    assert len(checks) == 1 and all(sql not in checks[0] for _, sql in ROUND_TRIP_PAIRS)  # the SQL is not shown
    assert all(q in checks[0] for q, _ in ROUND_TRIP_PAIRS)
    assert [(s.question, s.meta["round_trip_sql"]) for s in raw.samples] == [
        ("How many singers are there?", "SELECT COUNT(singer_id) AS n FROM singer")]
    assert "2 dropped by the round trip" in raw.notes[0]


def test_round_trip_on_a_free_text_server_is_cached(openai_server: str, tiny_model) -> None:
    """The real endpoint's free text gives no SQL with the same result: the pair is dropped, and the
    same check again is answered from the response cache without a request."""
    import asyncio

    from nl2sql_pipeline.core.llm.prompting import Prompts
    from nl2sql_pipeline.core.llm.roundtrip import round_trip
    from nl2sql_pipeline.core.samples import Sample

    db = database("concert_singer", 3, language="en")
    meta = read_schema(db)
    cards = build_cards(meta)
    topic = Topic(name="music", tables=["singer", "stadium"], count=1)
    pair = Sample(database=db.name, topic="music", question="How many singers are there?",
                  sql="SELECT count(*) FROM singer", language="en", source="llm")
    counts = []
    for _ in range(2):
        client = LLMClient(llm_settings(openai_server, str(tiny_model), generator={"round_trip": True}))
        kept = asyncio.run(round_trip(Prompts(cards, db, client.settings.generator), client, topic, [pair],
                                      executor_for(db)))
        assert kept == []
        counts.append((client.stats.requests, client.stats.answered))
    assert counts[0][0] == 1 and counts[1][0] == 0
