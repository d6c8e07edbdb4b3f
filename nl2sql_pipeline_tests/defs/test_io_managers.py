"""The typed IO managers: round trips, partition-aware paths, atomic writes, fan-in loading."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from nl2sql_pipeline.core.samples import Topic, TopicPlan
from nl2sql_pipeline.defs.io_managers import ParquetIOManager, PydanticJsonIOManager

PARTS = dg.StaticPartitionsDefinition(["a", "b"])


def _plan(name: str) -> TopicPlan:
    return TopicPlan(database=name, dialect="sqlite", total=3, topics=[Topic(name="t", tables=["x"], count=3)])


@dg.asset(partitions_def=PARTS, io_manager_key="json")
def plan(context: dg.AssetExecutionContext) -> TopicPlan:
    return _plan(context.partition_key)


@dg.asset(io_manager_key="json")
def fan_in(plan: dict[str, TopicPlan]) -> TopicPlan:
    return TopicPlan(database="all", dialect="sqlite", total=len(plan), topics=[t for p in plan.values() for t in p.topics])


@dg.asset(partitions_def=PARTS, io_manager_key="parquet")
def table(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"k": [context.partition_key] * 3, "v": [1, 2, 3]})


def test_json_and_parquet_round_trip(tmp_path: Path) -> None:
    resources = {"json": PydanticJsonIOManager(base_dir=str(tmp_path)), "parquet": ParquetIOManager(base_dir=str(tmp_path))}
    for key in ("a", "b"):
        result = dg.materialize([plan, table], resources=resources, partition_key=key)
        assert result.success
        mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
        meta = mats["plan"].materialization.metadata
        assert meta["path"].value == str(tmp_path / "plan" / f"{key}.json")
        assert meta["row_count"].value == 1
        assert mats["table"].materialization.metadata["row_count"].value == 3
    result = dg.materialize([plan, table, fan_in], resources=resources, selection=[fan_in])
    assert result.success
    merged = PydanticJsonIOManager(base_dir=str(tmp_path))._read(tmp_path / "fan_in.json")
    assert isinstance(merged, TopicPlan) and merged.total == 2
    frame = ParquetIOManager(base_dir=str(tmp_path))._read(tmp_path / "table" / "b.parquet")
    assert list(frame["k"]) == ["b"] * 3
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    manager = PydanticJsonIOManager(base_dir=str(tmp_path))
    path = tmp_path / "x.json"
    manager._write(path, _plan("old"))
    with pytest.raises(TypeError, match="stores pydantic models, got object"):
        manager._write(path, object())  # type: ignore[arg-type]
    assert manager._read(path).database == "old"
    # a failure inside the writer itself, after the temporary file exists
    parquet = ParquetIOManager(base_dir=str(tmp_path))
    table_path = tmp_path / "t.parquet"
    parquet._write(table_path, pd.DataFrame({"k": ["old"]}))
    with pytest.raises(pa.ArrowInvalid, match="Conversion failed for column k"):
        parquet._write(table_path, pd.DataFrame({"k": [object()]}))
    assert list(parquet._read(table_path)["k"]) == ["old"]
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_model_stored_before_its_module_moved_still_loads(tmp_path: Path) -> None:
    from nl2sql_pipeline.core.schema.metadata import SchemaMetadata

    stored = tmp_path / "db_metadata.json"
    value = SchemaMetadata(database="d", backend="sqlite", dialect="sqlite", tables=[]).model_dump(mode="json")
    stored.write_text(json.dumps({"model": "nl2sql_pipeline.core.metadata:SchemaMetadata", "value": value}))
    loaded = PydanticJsonIOManager(base_dir=str(tmp_path))._read(stored)
    assert isinstance(loaded, SchemaMetadata) and loaded.database == "d"
