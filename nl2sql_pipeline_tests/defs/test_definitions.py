"""The code location loads, and every data_create asset, the export included, materializes
in-process for the demo config into a LLaMA-Factory dataset that agrees with the validated samples."""

import json
from pathlib import Path

import dagster as dg
import pytest

from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.export import SHAREGPT_TAGS, ExportConfig, train_repeats
from nl2sql_pipeline.core.validation import ValidatedSamples

PARTITIONS = ("concert_singer", "sales_cn")
ALPACA_KEYS = {"instruction", "input", "output", "system"}


def test_definitions_load_and_validate() -> None:
    from nl2sql_pipeline.definitions import defs

    dg.Definitions.validate_loadable(defs)
    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert "data_create" in groups


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_demo_graph_materializes_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nl2sql_pipeline.definitions import defs

    monkeypatch.setenv("NL2SQL_HOME", str(tmp_path))
    instance = dg.DagsterInstance.ephemeral()
    materialized: set[str] = set()
    validated: dict[str, ValidatedSamples] = {}
    for partition in PARTITIONS:
        result = defs.resolve_job_def("data_create_job").execute_in_process(partition_key=partition, instance=instance)
        assert result.success
        materialized |= {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
        validated[partition] = result.output_for_node("validated_samples")
    export = defs.resolve_job_def("dataset_job").execute_in_process(instance=instance)
    assert export.success
    materialized |= {m.asset_key.to_user_string() for m in export.get_asset_materialization_events()}
    group = dg.AssetSelection.groups("data_create").materializable().resolve(defs.resolve_asset_graph())
    assert materialized == {k.to_user_string() for k in group}  # a new data_create asset joins this test

    stored = json.loads((nl2sql_home() / "assets" / "db_metadata" / "sales_cn.json").read_text(encoding="utf-8"))
    assert len(stored["value"]["tables"]) == 10
    assert instance.get_latest_materialization_event(dg.AssetKey("db_metadata")) is not None

    folder = tmp_path / "dataset"
    assert nl2sql_home() / "dataset" == folder
    accepted = {split: [v for batch in validated.values() for v in batch.accepted if (v.split or "train") == split]
                for split in ("train", "dev")}
    assert all(accepted.values()), {s: len(v) for s, v in accepted.items()}  # both splits hold pairs
    cap = ExportConfig().log_repeat_cap  # the asset keeps the default: often-run logged queries repeat in train
    outputs = {split: sorted(v.sample.sql for v in items for _ in range(train_repeats(v, cap)))
               for split, items in accepted.items()}
    info = json.loads((folder / "dataset_info.json").read_text(encoding="utf-8"))
    assert {e["file_name"] for e in info.values()} == {f"{f}_{s}.jsonl" for f in ("alpaca", "sharegpt")
                                                        for s in ("train", "dev")}
    assert {p.name for p in folder.iterdir()} == {e["file_name"] for e in info.values()} | {
        "dataset_info.json", "samples.jsonl", "report.json", "report.md"}
    for split, expected in outputs.items():
        alpaca_entry, sharegpt_entry = info[f"nl2sql_{split}_alpaca"], info[f"nl2sql_{split}_sharegpt"]
        alpaca = _rows(folder / alpaca_entry["file_name"])
        sharegpt = _rows(folder / sharegpt_entry["file_name"])
        assert len(alpaca) == len(sharegpt) == len(expected)
        assert set(alpaca_entry["columns"].values()) == ALPACA_KEYS
        assert sharegpt_entry["formatting"] == "sharegpt" and sharegpt_entry["tags"] == SHAREGPT_TAGS
        assert sorted(r["output"] for r in alpaca) == expected
        for row, chat in zip(alpaca, sharegpt, strict=True):
            assert set(row) == ALPACA_KEYS and all(isinstance(row[k], str) and row[k] for k in ALPACA_KEYS), row
            assert "Question: " in row["input"]
            assert chat["messages"] == [{"role": "system", "content": row["system"]},
                                        {"role": "user", "content": f"{row['instruction']}\n{row['input']}"},
                                        {"role": "assistant", "content": row["output"]}]
    samples = _rows(folder / "samples.jsonl")
    assert len(samples) == sum(len(items) for items in accepted.values())
    by_database = {name: len(batch.accepted) for name, batch in validated.items()}
    assert {name: sum(s["database"] == name for s in samples) for name in PARTITIONS} == by_database
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["counts"]["database"] == by_database
    assert report["files"]["alpaca_train.jsonl"] == len(outputs["train"])
    assert report["files"]["alpaca_dev.jsonl"] == len(outputs["dev"])
    assert {name: report["validation"][name]["accepted"] for name in PARTITIONS} == by_database
