"""The audit log: one JSON line per statement the executor runs, for validation (through Dagster,
on PostgreSQL with a password in the URL's variable) and evaluation (worker processes sharing
one file), linked from the run's metadata, rotated by size, never holding a secret."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from nl2sql_pipeline.core.audit import AuditTarget, append, audit_path, read_audit
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_items
from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.predictions import PredictionItem
from nl2sql_pipeline_tests import pii_data
from nl2sql_pipeline_tests.conftest import SPIDER_DE, with_stand_ins

PASSWORD = "pw-SECRET-4f1d"


def test_rotation_by_size_keeps_the_newest_lines(tmp_path: Path) -> None:
    target = AuditTarget(path=str(tmp_path / "run.jsonl"), purpose="validation", max_bytes=1024, backups=2)
    lines = [f'{{"n": {i}, "pad": "{"x" * 90}"}}\n' for i in range(40)]
    for line in lines:
        append(target, line)
    parts = sorted(p.name for p in tmp_path.iterdir())
    assert parts == ["run.jsonl", "run.jsonl.1", "run.jsonl.2"]
    assert all(p.stat().st_size <= 1024 for p in tmp_path.iterdir())
    kept = [r["n"] for r in read_audit(tmp_path / "run.jsonl")]
    assert kept == list(range(40 - len(kept), 40)) and len(kept) >= 20  # newest, in order; the oldest dropped


def test_validation_run_writes_a_line_per_statement_and_no_secret(
        pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nl2sql_pipeline.defs.data_create import db_metadata, table_cards
    from nl2sql_pipeline.defs.feedback import feedback_pairs
    from nl2sql_pipeline.defs.generation import raw_samples, topic_plan
    from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
    from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource
    from nl2sql_pipeline.defs.validation import validated_samples

    pii_data.build(pg_db)
    url = sa.make_url(pg_db).set(password=PASSWORD)  # the local server trusts loopback: any password works
    monkeypatch.setenv("NL2SQL_TEST_AUDIT_URL", url.render_as_string(hide_password=False))
    databases = tmp_path / "databases.yaml"
    databases.write_text(yaml.safe_dump({"databases": [{"name": "sales_cn", "url_env": "NL2SQL_TEST_AUDIT_URL",
                                                        "sample_budget": 12}]}), encoding="utf-8")
    calls: list[str] = []
    real = ReadOnlyExecutor.execute

    def counted(self: ReadOnlyExecutor, sql: str, **kw: object):
        calls.append(sql)
        return real(self, sql, **kw)

    monkeypatch.setattr(ReadOnlyExecutor, "execute", counted)
    result = dg.materialize(
        with_stand_ins([db_metadata, table_cards, feedback_pairs, topic_plan, raw_samples, validated_samples]),
        partition_key="sales_cn",
        resources={"databases": DatabasesResource(config_path=str(databases)), "llm": LLMResource(),
                   "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))})
    assert result.success
    path = audit_path(result.run_id)
    records = read_audit(path)
    assert len(records) == len(calls) > 12 and [r["sql"] for r in records] == calls
    assert {"synthesis", "validation"} <= {r["purpose"] for r in records} <= {"synthesis", "validation", "feedback"}
    validated = [r for r in records if r["purpose"] == "validation"]
    assert len(validated) >= len(result.output_for_node("validated_samples").items) // 2
    first = validated[0]
    assert set(first) >= {"time", "database", "purpose", "sql", "sql_sha256", "outcome", "rows", "bytes", "elapsed_ms"}
    assert first["database"] == "sales_cn" and first["sql_sha256"] == hashlib.sha256(first["sql"].encode()).hexdigest()
    assert any(r["outcome"] == "ok" and r["rows"] > 0 and r["bytes"] > 0 for r in validated)
    text = path.read_text(encoding="utf-8")
    assert PASSWORD not in text and "postgresql" not in text and str(url.host) not in text
    linked = [e.materialization.metadata["audit_log"].value for e in result.get_asset_materialization_events()
              if "audit_log" in e.materialization.metadata]
    linked_by = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()
                 if "audit_log" in e.materialization.metadata}
    assert set(linked) == {str(path)} and linked_by == {"feedback_pairs", "raw_samples", "validated_samples"}


def test_evaluation_workers_share_one_audit_file(tmp_path: Path) -> None:
    db = SPIDER_DE / "database" / "concert_singer" / "concert_singer.sqlite"
    targets = {"concert_singer": DatabaseTarget(url=f"sqlite:///{db}", dialect="sqlite")}
    items = [PredictionItem(index=i, database="concert_singer", question="q",
                            gold_sql=f"SELECT count(*) FROM singer WHERE Age > {i}",
                            output=f"SELECT count(*) FROM singer WHERE Age >= {i}") for i in range(130)]
    target = AuditTarget(path=str(tmp_path / "eval.jsonl"), purpose="evaluation", run_id="r1")
    verdicts = evaluate_items([("adapter", item) for item in items], targets,
                              EvalOptions(workers=2, audit=target))
    assert len(verdicts) == 130
    records = read_audit(tmp_path / "eval.jsonl")
    assert len(records) == 260  # every gold and every prediction, each once, from both processes
    assert {r["purpose"] for r in records} == {"evaluation"} and {r["run"] for r in records} == {"r1"}
    assert sorted(r["sql"] for r in records) == sorted([i.gold_sql for i in items] + [i.output for i in items])


def test_evaluation_asset_links_its_audit_log(tmp_path: Path) -> None:
    from nl2sql_pipeline.core.evaluation.inputs import read_gold
    from nl2sql_pipeline.defs.evaluation import eval_predictions
    from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
    from nl2sql_pipeline.defs.settings import DatabasesResource

    gold = [g for g in read_gold(SPIDER_DE / "dev_gold.sql") if g.database == "concert_singer"]
    (tmp_path / "gold.sql").write_text("".join(f"{g.gold_sql}\t{g.database}\n" for g in gold), encoding="utf-8")
    (tmp_path / "pred.txt").write_text("SELECT 1\n" * len(gold), encoding="utf-8")
    databases = tmp_path / "databases.yaml"
    databases.write_text(yaml.safe_dump({"databases": [{"name": "concert_singer", "demo": "concert_singer"}]}))
    result = dg.materialize(
        with_stand_ins([eval_predictions]), resources={"databases": DatabasesResource(config_path=str(databases)),
                                       "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))},
        run_config={"ops": {"eval_predictions": {"config": {
            "workers": 1, "spider_gold": str(tmp_path / "gold.sql"), "spider_db_dir": str(SPIDER_DE / "database"),
            "spider_predictions": {"adapter": str(tmp_path / "pred.txt")}}}}})
    assert result.success
    [event] = result.get_asset_materialization_events()
    path = Path(event.materialization.metadata["audit_log"].value)
    records = read_audit(path)
    golds = {g.gold_sql for g in gold}
    assert path == audit_path(result.run_id) and {r["purpose"] for r in records} == {"evaluation"}
    ran = [r["sql"] for r in records]
    # each gold and the one distinct prediction ran once; the gold hygiene's tie checks are recorded too
    assert golds | {"SELECT 1"} <= set(ran) and all(ran.count(sql) == 1 for sql in golds | {"SELECT 1"})
    assert all(sql in golds or sql == "SELECT 1" or "__tie_key" in sql for sql in ran)


def test_answers_of_the_ask_path_are_recorded_per_process(demo_dir: Path) -> None:
    from nl2sql_pipeline.core.ask.schema import schema_for
    from nl2sql_pipeline.core.audit import session_audit
    from nl2sql_pipeline.core.config import DatabaseConfig

    schema = schema_for(DatabaseConfig(name="concert_singer", demo="concert_singer"))
    assert schema.executor.execute("SELECT count(*) FROM singer").ok
    records = read_audit(Path(session_audit("ask").path))
    # the value sampling of the schema linking ran first; the answer's query is the last line
    assert {(r["purpose"], r["database"]) for r in records} == {("ask", "concert_singer")}
    assert records[-1]["sql"] == "SELECT count(*) FROM singer" and records[-1]["rows"] == 1
