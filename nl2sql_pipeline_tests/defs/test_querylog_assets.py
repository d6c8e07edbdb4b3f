"""logged_queries -> raw_samples -> validated_samples in-process: log pairs first up to the share,
the generator fills the rest, templates stay on one side of the split, databases without a
query_log are untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.defs.data_create import db_metadata, table_cards
from nl2sql_pipeline.defs.generation import raw_samples, topic_plan
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.querylog import logged_queries
from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource
from nl2sql_pipeline.defs.validation import validated_samples
from nl2sql_pipeline_tests import conftest, querylog_schema
from nl2sql_pipeline_tests.conftest import with_stand_ins

DATA = conftest.DATA / "querylog"
ASSETS = [db_metadata, table_cards, logged_queries, topic_plan, raw_samples, validated_samples]


def _materialize(config: Path, partition: str, base: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(with_stand_ins(ASSETS), partition_key=partition, resources={
        "databases": DatabasesResource(config_path=str(config)), "llm": LLMResource(base_url="http://127.0.0.1:9/v1"),
        "json_io_manager": PydanticJsonIOManager(base_dir=str(base))})


def _check_split(validated) -> None:
    sides: dict[str, set[str]] = {}
    for item in validated.accepted:
        sides.setdefault(item.template, set()).add(item.split)
    assert all(len(s) == 1 for s in sides.values())


@pytest.mark.parametrize("share, budget", [(0.3, 20), (0.9, 12)])
def test_raw_samples_take_log_pairs_first_up_to_the_share(tmp_path: Path, share: float, budget: int) -> None:
    querylog_schema.load(f"sqlite:///{tmp_path / 'erp.sqlite'}")
    querylog_schema.descriptions(tmp_path / "erp_comments.yaml")
    shutil.copytree(DATA / "reports_sqlite", tmp_path / "reports")
    shutil.copy(DATA / "queries.jsonl", tmp_path / "queries.jsonl")
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{
        "name": "sales_cn", "url": f"sqlite:///{tmp_path / 'erp.sqlite'}", "descriptions": "erp_comments.yaml",
        "sample_budget": budget, "query_log": {"sql_dir": "reports", "file": "queries.jsonl", "share": share}}]},
        allow_unicode=True), encoding="utf-8")
    result = _materialize(config, "sales_cn", tmp_path / "assets")  # a known partition key, our own ERP schema
    assert result.success
    logged = result.output_for_node("logged_queries")
    raw = result.output_for_node("raw_samples")
    quota = int(share * budget)
    taken = min(quota, len(logged.pairs))
    assert len(logged.pairs) == 11
    assert [s.source for s in raw.samples[:taken]] == ["log"] * taken
    assert all(s.source != "log" for s in raw.samples[taken:])
    assert raw.samples[:taken] == logged.pairs[:taken]  # the most frequent ones
    assert len(raw.samples) == budget
    assert any(n.startswith(f"query log: {taken} pairs") for n in raw.notes)
    assert any(n.startswith("query log dropped: not a query: DML (UPDATE): 1") for n in raw.notes)
    _check_split(result.output_for_node("validated_samples"))
    events = result.get_asset_materialization_events()
    meta = {e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata for e in events}
    assert meta["raw_samples"]["log_vs_generated"].value == {"log": taken, "generated": budget - taken}
    assert "not a query: DDL (DROP)" in meta["logged_queries"]["dropped_by_reason"].value
    assert "window function" in meta["logged_queries"]["offline_renderer_cannot_express"].value
    assert "| reports/maintenance.sql:2 | not a query: DML (UPDATE) |" in meta["logged_queries"]["dropped_examples"].value


def test_demo_with_a_log_and_one_without(tmp_path: Path) -> None:
    log = tmp_path / "concert_queries.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"sql": "SELECT Name, Country FROM singer WHERE Age > 30", "count": 4},
        {"sql": "SELECT COUNT(*) FROM concert WHERE Year = ?", "question": "How many concerts were there that year?"},
        {"sql": "DELETE FROM singer"},
    ]) + "\n", encoding="utf-8")
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [
        {"name": "concert_singer", "demo": "concert_singer", "sample_budget": 10, "language": "en",
         "query_log": {"file": log.name, "share": 0.5}},
        {"name": "sales_cn", "demo": "sales_cn", "sample_budget": 8}]}), encoding="utf-8")
    result = _materialize(config, "concert_singer", tmp_path / "assets")
    assert result.success
    raw = result.output_for_node("raw_samples")
    assert [s.source for s in raw.samples[:2]] == ["log", "log"] and len(raw.samples) == 10
    # the synthesizer's English writer, in one of its styles (formal, colloquial, imperative, interrogative, concise)
    assert raw.samples[0].question.startswith(("List", "Show", "What", "Find", "Give", "Please", "Can", "Name"))
    assert "30" in raw.samples[0].question and raw.samples[0].question.isascii()
    assert raw.samples[1].question == "How many concerts were there that year?" and "?" not in raw.samples[1].sql
    assert raw.samples[1].language == "en"
    other = _materialize(config, "sales_cn", tmp_path / "assets")
    assert other.success and all(s.source != "log" for s in other.output_for_node("raw_samples").samples)
    assert other.output_for_node("logged_queries").pairs == []


def test_a_configured_log_without_its_asset_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "concert_singer", "demo": "concert_singer",
                                                     "sample_budget": 5, "query_log": {"file": "q.jsonl"}}]}))
    result = dg.materialize(with_stand_ins([db_metadata, table_cards, topic_plan, raw_samples]), partition_key="concert_singer",
                            resources={"databases": DatabasesResource(config_path=str(config)), "llm": LLMResource(),
                                       "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "a"))},
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "materialize logged_queries" in str(failure.event_specific_data.error)


def test_llm_back_translation_on_a_real_endpoint(openai_server: str, tiny_model: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """generator: llm-sql-first asks the endpoint (a tiny random model: its answers rarely parse, so
    the offline renderer fills in); every pair still has a question and says where it came from."""
    monkeypatch.setenv("NL2SQL_LLM_API_KEY", "test-key")
    log = tmp_path / "q.jsonl"
    log.write_text('{"sql": "SELECT Name FROM singer WHERE Age > 30"}\n{"sql": "SELECT COUNT(*) FROM stadium"}\n')
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "concert_singer", "demo": "concert_singer",
                                                     "sample_budget": 6, "language": "en", "generator": "llm-sql-first",
                                                     "query_log": {"file": log.name}}]}))
    llm_yaml = tmp_path / "llm.yaml"
    llm_yaml.write_text(yaml.safe_dump({"llm": {"max_tokens": 32, "timeout_s": 60, "max_retries": 1,
                                                "generator": {"topup_rounds": 0}}}))
    result = dg.materialize([db_metadata, table_cards, logged_queries], partition_key="concert_singer", resources={
        "databases": DatabasesResource(config_path=str(config)),
        "llm": LLMResource(config_path=str(llm_yaml), base_url=openai_server, model=str(tiny_model)),
        "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))})
    assert result.success
    logged = result.output_for_node("logged_queries")
    assert len(logged.pairs) == 2 and all(p.question for p in logged.pairs)
    assert {p.meta["question_source"] for p in logged.pairs} <= {"llm", "rule"}
    assert any("LLM questions for" in n for n in logged.notes) and any("requests" in n for n in logged.notes)


def test_make_demo_reads_the_log_each_run_and_regenerates_only_when_it_changed(tmp_path: Path) -> None:
    """Through `python -m nl2sql_pipeline.run demo` and a persistent instance: an unchanged log
    leaves raw_samples fresh; a new statement in the file re-runs it."""
    import os
    import subprocess
    import sys

    querylog_schema.load(f"sqlite:///{tmp_path / 'erp.sqlite'}")
    querylog_schema.descriptions(tmp_path / "erp_comments.yaml")
    log = tmp_path / "queries.jsonl"
    shutil.copy(DATA / "queries.jsonl", log)
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{
        "name": "erp_log", "url": f"sqlite:///{tmp_path / 'erp.sqlite'}", "descriptions": "erp_comments.yaml",
        "sample_budget": 12, "query_log": {"file": "queries.jsonl", "share": 0.5}}]}), encoding="utf-8")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(conftest.REPO / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, NL2SQL_DATABASES=str(config), DAGSTER_HOME=str(home), NL2SQL_HOME=str(tmp_path / "home"),
               PYTHONPATH=str(conftest.REPO), OMP_NUM_THREADS="1")

    def demo() -> str:
        done = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.run", "demo"], env=env, cwd=conftest.REPO,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return next(line for line in done.stdout.splitlines() if "erp_log" in line)

    assert "reused nothing" in demo()
    second = demo()
    ran = {n.strip() for n in second.split(": ran ", 1)[1].split("; reused")[0].split(",")}
    assert ran == {"db_connection", "db_metadata", "logged_queries"} and "raw_samples" in second.split("reused")[1], second
    with log.open("a", encoding="utf-8") as f:
        f.write('{"sql": "SELECT dept_name FROM dept WHERE city = \'苏州\'", "count": 50}\n')
    third = demo()
    assert "raw_samples" in third.split("reused")[0], third
    report = (tmp_path / "home" / "dataset" / "report.md").read_text(encoding="utf-8")
    assert "## By source" in report and "| log |" in report, report
    assert "## Query log of erp_log" in report and "- query log dropped: not a query: DDL (DROP): 1" in report
