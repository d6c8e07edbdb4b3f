"""No planted personal value reaches a real OpenAI-compatible server (`transformers serve` behind
a proxy that records every request body as it arrived), in `llm` and `llm-sql-first` modes, on
SQLite and PostgreSQL; and through Dagster, where the endpoint comes from NL2SQL_LLM_BASE_URL."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import parse_databases
from nl2sql_pipeline.core.execution import executor_for
from nl2sql_pipeline.core.llm import LLMClient, LLMSettings
from nl2sql_pipeline.core.llm.generator import generate_with_llm, synthesized_by, validated_by
from nl2sql_pipeline.core.llm.pii import masker_for
from nl2sql_pipeline.core.llm.planner import plan_with_llm
from nl2sql_pipeline.core.llm.prompting import value_lines
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests import pii_data
from nl2sql_pipeline_tests.conftest import with_stand_ins
from nl2sql_pipeline_tests.llm_servers import recording_proxy


def _run(db, url: str, model: str) -> tuple[object, list[str]]:
    """Stages A and B as the assets run them, values in prompts switched on (the riskiest setting)."""
    meta = read_schema(db)
    cards = build_cards(meta)
    settings = LLMSettings(base_url=url, model=model, max_tokens=48, timeout_s=60, max_retries=1, concurrency=4,
                           cache=False, planner={"attempts": 1},
                           generator={"batch_size": 4, "topup_rounds": 1, "sample_values_for": ["*"]})
    client = LLMClient(settings, masker=masker_for(db, cards, url))
    plan = plan_with_llm(cards, db, client)
    executor = executor_for(db)
    raw = generate_with_llm(plan, cards, db, client, mode=db.generator, accept=validated_by(meta, executor),
                            synthesize=synthesized_by(meta, executor, db),
                            values=value_lines(executor, meta, db, 4, client.masker))
    return raw, [*plan.notes, *raw.notes]


def _config(url: str, generator: str, mode: str, desc: Path | None = None):
    entry = {"name": "crm", "url": url, "sample_budget": 8, "language": "zh", "generator": generator,
             "pii": {"mode": mode}, **({"descriptions": str(desc)} if desc else {})}
    return parse_databases({"databases": [entry]}).databases[0]


@pytest.mark.parametrize("generator", ["llm", "llm-sql-first"])
def test_no_planted_value_reaches_the_server_from_sqlite(openai_server: str, tiny_model: Path, tmp_path: Path,
                                                         generator: str) -> None:
    url, desc, planted = pii_data.sqlite_database(tmp_path)
    with recording_proxy(openai_server) as (proxy, bodies):
        raw, notes = _run(_config(url, generator, "mask", desc), proxy, str(tiny_model))
        assert len(bodies) >= 2 and pii_data.leaked(bodies, planted) == []
        assert len(raw) == 8
        masked = next(n for n in notes if n.startswith("PII mask"))
        assert "customers.mobile" in masked and "customers.card (comment mentions '银行卡')" in masked
        # the same run unmasked sends them: the recording would have caught a leak
        before = len(bodies)
        _run(_config(url, generator, "off", desc), proxy, str(tiny_model))
        assert pii_data.leaked(bodies[before:], planted)


@pytest.mark.parametrize("generator", ["llm", "llm-sql-first"])
def test_no_planted_value_reaches_the_server_from_postgres(openai_server: str, tiny_model: Path, pg_db: str,
                                                           generator: str) -> None:
    planted = pii_data.build(pg_db)  # comments live in the catalog here
    with recording_proxy(openai_server) as (proxy, bodies):
        raw, notes = _run(_config(pg_db, generator, "mask"), proxy, str(tiny_model))
    assert len(bodies) >= 2 and pii_data.leaked(bodies, planted) == []
    assert len(raw) == 8 and any(n.startswith("PII mask") and "customers.home" in n for n in notes)


def test_dagster_run_takes_the_endpoint_from_the_environment_and_masks(
        openai_server: str, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nl2sql_pipeline.defs.data_create import db_metadata, table_cards
    from nl2sql_pipeline.defs.feedback import feedback_pairs
    from nl2sql_pipeline.defs.generation import raw_samples, topic_plan
    from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
    from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource

    url, desc, planted = pii_data.sqlite_database(tmp_path)
    databases = tmp_path / "databases.yaml"
    databases.write_text(yaml.safe_dump({"databases": [{  # partitions are fixed at import: reuse a key
        "name": "sales_cn", "url": url, "descriptions": str(desc), "sample_budget": 6, "generator": "llm-sql-first",
        "pii": {"mode": "mask"}}]}), encoding="utf-8")
    llm_yaml = tmp_path / "llm.yaml"  # names another endpoint: the environment must win over it
    llm_yaml.write_text(yaml.safe_dump({"llm": {"base_url": "http://127.0.0.1:9/v1", "model": "not-this",
                                                "max_tokens": 32, "timeout_s": 60, "max_retries": 1,
                                                "planner": {"attempts": 1}, "generator": {"topup_rounds": 0}}}))
    with recording_proxy(openai_server) as (proxy, bodies):
        monkeypatch.setenv("NL2SQL_LLM_BASE_URL", proxy)
        monkeypatch.setenv("NL2SQL_LLM_MODEL", str(tiny_model))
        result = dg.materialize(
            with_stand_ins([db_metadata, table_cards, feedback_pairs, topic_plan, raw_samples]), partition_key="sales_cn",
            resources={"databases": DatabasesResource(config_path=str(databases)),
                       "llm": LLMResource(config_path=str(llm_yaml)),  # base_url/model left unset ("")
                       "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))})
    assert result.success and bodies and pii_data.leaked(bodies, planted) == []
    raw = result.output_for_node("raw_samples")
    assert any(f"at {proxy}" in n for n in raw.notes) and any(n.startswith("PII mask") for n in raw.notes)


def test_query_log_literals_are_masked_before_the_llm_writes_questions(
        openai_server: str, tiny_model: Path, tmp_path: Path) -> None:
    from nl2sql_pipeline.defs.data_create import db_metadata, table_cards
    from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
    from nl2sql_pipeline.defs.querylog import logged_queries
    from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource

    url, desc, planted = pii_data.sqlite_database(tmp_path)
    customer = pii_data.planted_rows()[0][1]
    log = tmp_path / "q.jsonl"  # an analyst's saved queries, real customer values in them
    log.write_text("".join(f'{{"sql": "{sql}"}}\n' for sql in (
        f"SELECT email FROM customers WHERE mobile = '{customer['mobile']}'",
        f"SELECT count(*) FROM orders o JOIN customers c ON o.customer_id = c.customer_id "
        f"WHERE c.full_name = '{customer['full_name']}'",
        f"SELECT city FROM customers WHERE id_no = '{customer['id_no']}'")), encoding="utf-8")
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{
        "name": "sales_cn", "url": url, "descriptions": str(desc), "sample_budget": 6, "generator": "llm-sql-first",
        "pii": {"mode": "mask"}, "query_log": {"file": str(log)}}]}), encoding="utf-8")
    llm_yaml = tmp_path / "llm.yaml"
    llm_yaml.write_text(yaml.safe_dump({"llm": {"max_tokens": 32, "timeout_s": 60, "max_retries": 1,
                                                "generator": {"topup_rounds": 0}}}))
    with recording_proxy(openai_server) as (proxy, bodies):
        result = dg.materialize([db_metadata, table_cards, logged_queries], partition_key="sales_cn", resources={
            "databases": DatabasesResource(config_path=str(config)),
            "llm": LLMResource(config_path=str(llm_yaml), base_url=proxy, model=str(tiny_model)),
            "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))})
    assert result.success and bodies and pii_data.leaked(bodies, planted) == []
    logged = result.output_for_node("logged_queries")
    assert any(customer["mobile"] in p.sql for p in logged.pairs)  # the pair keeps the real literal
    assert any(n.startswith("PII mask") for n in logged.notes)
