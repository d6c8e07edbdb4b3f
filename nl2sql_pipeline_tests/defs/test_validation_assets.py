"""validated_samples (per database, with its checks) and the training_dataset fan-in, in-process."""

import json
from pathlib import Path

import dagster as dg

from nl2sql_pipeline.core.config import nl2sql_home


def test_validation_and_export_materialize_for_the_demo_databases() -> None:
    from nl2sql_pipeline.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("data_create_job")
    for partition in ("concert_singer", "sales_cn"):
        result = job.execute_in_process(partition_key=partition, instance=instance)
        assert result.success
        checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
        assert set(checks) == {"pass_rate", "duplicate_rate", "hardness_mix", "table_coverage"}
        assert checks["pass_rate"].passed and checks["table_coverage"].passed
        assert 0 <= checks["duplicate_rate"].metadata["duplicate_rate"].value <= 1
        materialization = next(m for m in result.get_asset_materialization_events()
                               if m.asset_key == dg.AssetKey("validated_samples"))
        meta = materialization.materialization.metadata
        assert meta["accepted"].value > 0 and "rejections_by_reason" in meta
        assert meta["passed_syntax"].value >= meta["passed_schema"].value >= meta["passed_execution"].value
    stored = json.loads((nl2sql_home() / "assets" / "validated_samples" / "sales_cn.json").read_text(encoding="utf-8"))
    assert stored["value"]["database"] == "sales_cn" and stored["value"]["items"]

    fan_in = defs.resolve_implicit_global_asset_job_def()
    selection = [dg.AssetKey("training_dataset")]
    export = fan_in.execute_in_process(instance=instance, asset_selection=selection)
    assert export.success
    folder = nl2sql_home() / "dataset"
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert set(report["counts"]["database"]) == {"concert_singer", "sales_cn"}
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert {"alpaca_train.jsonl", "sharegpt_dev.jsonl", "dataset_info.json", "samples.jsonl", "report.md"} <= set(first)
    again = fan_in.execute_in_process(instance=instance, asset_selection=selection)
    assert again.success and {p.name: p.read_bytes() for p in Path(folder).iterdir()} == first
    assert export.asset_materializations_for_node("training_dataset")[0].metadata["changed_files"].value != "none"
    assert again.asset_materializations_for_node("training_dataset")[0].metadata["changed_files"].value == "none"
