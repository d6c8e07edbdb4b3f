"""topic_plan and raw_samples materialize per database and keep the sample budget."""

from __future__ import annotations

import json

import dagster as dg

from nl2sql_pipeline.core.config import nl2sql_home


def test_plan_and_samples_materialize_for_a_demo_partition() -> None:
    from nl2sql_pipeline.definitions import defs

    job = defs.resolve_job_def("data_create_job")
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(partition_key="sales_cn", instance=instance)
    assert result.success
    assets = nl2sql_home() / "assets"
    plan = json.loads((assets / "topic_plan" / "sales_cn.json").read_text(encoding="utf-8"))["value"]
    raw = json.loads((assets / "raw_samples" / "sales_cn.json").read_text(encoding="utf-8"))["value"]
    budget = 300  # configs/databases.yaml
    assert plan["total"] == budget == sum(t["count"] for t in plan["topics"])
    assert len(raw["samples"]) == budget
    assert {s["topic"] for s in raw["samples"]} == {t["name"] for t in plan["topics"]}
    event = instance.get_latest_materialization_event(dg.AssetKey("raw_samples"))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    assert metadata["sample_count"].value == budget
    assert set(metadata["by_hardness"].value) == {"easy", "medium", "hard", "extra"}
