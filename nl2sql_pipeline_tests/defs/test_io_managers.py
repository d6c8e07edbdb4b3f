"""The typed IO manager: round trips, partition-aware paths, atomic writes, fan-in and optional inputs."""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from nl2sql_pipeline.core.samples import Topic, TopicPlan
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager, optional_input

PARTS = dg.StaticPartitionsDefinition(["a", "b"])


def _plan(name: str) -> TopicPlan:
    return TopicPlan(database=name, dialect="sqlite", total=3, topics=[Topic(name="t", tables=["x"], count=3)])


@dg.asset(partitions_def=PARTS, io_manager_key="json")
def plan(context: dg.AssetExecutionContext) -> TopicPlan:
    return _plan(context.partition_key)


@dg.asset(io_manager_key="json")
def fan_in(plan: dict[str, TopicPlan]) -> TopicPlan:
    return TopicPlan(database="all", dialect="sqlite", total=len(plan), topics=[t for p in plan.values() for t in p.topics])


def test_json_round_trip(tmp_path: Path) -> None:
    resources = {"json": PydanticJsonIOManager(base_dir=str(tmp_path))}
    for key in ("a", "b"):
        result = dg.materialize([plan], resources=resources, partition_key=key)
        assert result.success
        meta = result.get_asset_materialization_events()[0].materialization.metadata
        assert meta["path"].value == str(tmp_path / "plan" / f"{key}.json")
        assert meta["row_count"].value == 1
    result = dg.materialize([plan, fan_in], resources=resources, selection=[fan_in])
    assert result.success
    merged = PydanticJsonIOManager(base_dir=str(tmp_path))._read(tmp_path / "fan_in.json")
    assert isinstance(merged, TopicPlan) and merged.total == 2
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries


@dg.asset(io_manager_key="json_io_manager")
def upstream() -> TopicPlan:
    return _plan("up")


@dg.asset(io_manager_key="json_io_manager", ins={"upstream": optional_input()})
def uses_it_when_there(upstream: TopicPlan | None) -> TopicPlan:
    return _plan("none" if upstream is None else f"from {upstream.database}")


@dg.asset(io_manager_key="json_io_manager", ins={"upstream": dg.AssetIn()})
def needs_it(upstream: TopicPlan) -> TopicPlan:
    return upstream


def test_an_optional_input_is_none_until_its_upstream_exists(tmp_path: Path) -> None:
    resources = {"json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path))}
    assets = [upstream, uses_it_when_there, needs_it]
    result = dg.materialize(assets, resources=resources, selection=[uses_it_when_there])
    assert result.success and result.output_for_node("uses_it_when_there").database == "none"
    with pytest.raises(FileNotFoundError):  # a required input still needs its upstream
        dg.materialize(assets, resources=resources, selection=[needs_it])
    assert dg.materialize(assets, resources=resources, selection=[upstream]).success
    result = dg.materialize(assets, resources=resources, selection=[uses_it_when_there, needs_it])
    assert result.output_for_node("uses_it_when_there").database == "from up"
    assert result.output_for_node("needs_it").database == "up"


@dg.asset(partitions_def=PARTS, io_manager_key="json_io_manager")
def per_part(context: dg.AssetExecutionContext) -> TopicPlan:
    return _plan(context.partition_key)


@dg.asset(partitions_def=PARTS, io_manager_key="json_io_manager", ins={"per_part": optional_input()},
          backfill_policy=dg.BackfillPolicy.single_run())
def reads_per_part(context: dg.AssetExecutionContext, per_part: Any) -> Any:
    """{partition: plan} in a range run (as defs/partitioned.py does), the plan itself otherwise."""
    if not context.has_partition_key_range:
        return _plan("none" if per_part is None else per_part.database)
    return {k: _plan("none" if v is None else v.database) for k, v in per_part.items()}


def test_an_optional_partitioned_input_is_none_for_the_partitions_never_materialized(tmp_path: Path) -> None:
    resources = {"json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path))}
    assets = [per_part, reads_per_part]
    assert dg.materialize(assets, resources=resources, partition_key="a", selection=[per_part]).success
    result = dg.materialize(assets, resources=resources, selection=[reads_per_part],
                            tags={"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "b"})
    assert {k: v.database for k, v in result.output_for_node("reads_per_part").items()} == {"a": "a", "b": "none"}
    one = dg.materialize(assets, resources=resources, partition_key="b", selection=[reads_per_part])
    assert one.output_for_node("reads_per_part").database == "none"


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    manager = PydanticJsonIOManager(base_dir=str(tmp_path))
    path = tmp_path / "x.json"
    manager._write(path, _plan("old"))
    with pytest.raises(TypeError, match="stores pydantic models, got object"):
        manager._write(path, object())  # type: ignore[arg-type]
    assert manager._read(path).database == "old"
    # a failure inside the writer itself, after the temporary file exists (a lone surrogate has no UTF-8)
    with pytest.raises(UnicodeEncodeError):
        manager._write(path, _plan("\ud800"))
    assert manager._read(path).database == "old"
    assert not list(tmp_path.rglob("*.tmp"))

def test_a_model_stored_before_its_module_moved_still_loads(tmp_path: Path) -> None:
    from nl2sql_pipeline.core.schema.metadata import SchemaMetadata

    stored = tmp_path / "db_metadata.json"
    value = SchemaMetadata(database="d", backend="sqlite", dialect="sqlite", tables=[]).model_dump(mode="json")
    stored.write_text(json.dumps({"model": "nl2sql_pipeline.core.metadata:SchemaMetadata", "value": value}))
    loaded = PydanticJsonIOManager(base_dir=str(tmp_path))._read(stored)
    assert isinstance(loaded, SchemaMetadata) and loaded.database == "d"
