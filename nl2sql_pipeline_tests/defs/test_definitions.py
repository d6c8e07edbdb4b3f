"""The code location loads, and the whole data_create graph materializes in-process for the demo config."""

import json
from pathlib import Path

import dagster as dg

from nl2sql_pipeline.core.config import nl2sql_home


def test_definitions_load_and_validate() -> None:
    from nl2sql_pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert "data_create" in groups


def test_demo_graph_materializes_in_process(tmp_path: Path) -> None:
    from nl2sql_pipeline.definitions import defs

    job = defs.resolve_job_def("data_create_job")
    instance = dg.DagsterInstance.ephemeral()
    for partition in ("concert_singer", "sales_cn"):
        result = job.execute_in_process(partition_key=partition, instance=instance)
        assert result.success
        keys = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
        assert {"db_connection", "db_metadata", "table_cards"} <= keys
    stored = json.loads((nl2sql_home() / "assets" / "db_metadata" / "sales_cn.json").read_text(encoding="utf-8"))
    assert len(stored["value"]["tables"]) == 10
    record = instance.get_latest_materialization_event(dg.AssetKey("db_metadata"))
    assert record is not None
