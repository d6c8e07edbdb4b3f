"""topic_plan and raw_samples with `generator: llm` materialized in-process against the real
`transformers serve` endpoint; the API key from the environment never reaches metadata."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.defs.data_create import db_metadata, table_cards
from nl2sql_pipeline.defs.generation import raw_samples, topic_plan
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource
from nl2sql_pipeline_tests.conftest import with_stand_ins

SECRET = "sk-dagster-SECRET-value"


@pytest.mark.parametrize("mode", ["llm", "llm-sql-first"])
def test_llm_partition_materializes(openai_server: str, tiny_model: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("NL2SQL_LLM_API_KEY", SECRET)
    databases = tmp_path / "databases.yaml"
    databases.write_text(yaml.safe_dump({"databases": [{
        "name": "concert_singer", "demo": "concert_singer", "sample_budget": 10, "language": "en",
        "generator": mode}]}), encoding="utf-8")
    llm_yaml = tmp_path / "llm.yaml"
    llm_yaml.write_text(yaml.safe_dump({"llm": {"max_tokens": 32, "timeout_s": 60, "max_retries": 1,
                                                "planner": {"attempts": 1}, "generator": {"topup_rounds": 1}}}))
    result = dg.materialize(
        with_stand_ins([db_metadata, table_cards, topic_plan, raw_samples]),
        partition_key="concert_singer",
        resources={"databases": DatabasesResource(config_path=str(databases)),
                   "llm": LLMResource(config_path=str(llm_yaml), base_url=openai_server, model=str(tiny_model)),
                   "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))},
    )
    assert result.success
    plan = result.output_for_node("topic_plan")
    raw = result.output_for_node("raw_samples")
    assert plan.source.startswith("llm") and sum(t.count for t in plan.topics) == 10
    assert len(raw) == 10 and any(f"at {openai_server}" in n for n in raw.notes)
    everything = " ".join(str(e) for e in result.all_events)
    assert SECRET not in everything
    assert all(SECRET not in p.read_text() for p in tmp_path.rglob("*.json"))


def test_offline_partitions_need_no_endpoint_and_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NL2SQL_LLM_API_KEY", raising=False)
    databases = tmp_path / "databases.yaml"
    databases.write_text(yaml.safe_dump({"databases": [{"name": "concert_singer", "demo": "concert_singer",
                                                        "sample_budget": 6}]}), encoding="utf-8")
    result = dg.materialize(
        with_stand_ins([db_metadata, table_cards, topic_plan, raw_samples]),
        partition_key="concert_singer",
        resources={"databases": DatabasesResource(config_path=str(databases)),
                   "llm": LLMResource(base_url="http://127.0.0.1:9/v1"),  # nothing listens there
                   "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))},
    )
    assert result.success and result.output_for_node("topic_plan").source == "offline"
