"""The schema_index asset: per database, through the IO manager, versioned on cards and values."""

from pathlib import Path

import dagster as dg
import yaml

from nl2sql_pipeline.core.execution import close_executors
from nl2sql_pipeline.core.linking import LinkConfig, SchemaIndex, link
from nl2sql_pipeline.defs import data_create
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.linking import schema_index
from nl2sql_pipeline.defs.settings import DatabasesResource


def _materialize(tmp_path: Path, no_sample: list[str]) -> dg.ExecuteInProcessResult:
    config = tmp_path / f"databases_{len(no_sample)}.yaml"
    config.write_text(yaml.safe_dump({"databases": [
        {"name": "sales_cn", "demo": "sales_cn", "synthesis": {"no_sample": no_sample}}]}), encoding="utf-8")
    resources = {"databases": DatabasesResource(config_path=str(config)),
                 "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))}
    try:
        return dg.materialize([data_create.db_metadata, data_create.table_cards, schema_index], resources=resources,
                              partition_key="sales_cn", selection=[data_create.db_metadata, data_create.table_cards,
                                                                   schema_index])
    finally:
        close_executors()


def test_schema_index_is_stored_per_database_and_versioned_on_its_values(tmp_path: Path) -> None:
    first = _materialize(tmp_path, [])
    assert first.success
    stored = PydanticJsonIOManager(base_dir=str(tmp_path / "assets")).load_previous(dg.AssetKey("schema_index"), "sales_cn")
    assert isinstance(stored, SchemaIndex) and len(stored) == 10
    assert any(v.table == "stores" and "北京" in v.values for v in stored.values)
    event = first.asset_materializations_for_node("schema_index")[0]
    assert event.metadata["version"].value == stored.version and event.metadata["values"].value > 0
    # the stored index links straight away (its BM25 matrix is rebuilt on load)
    assert "stores" in link("北京有多少家门店？", stored, LinkConfig(budget_tokens=300)).tables

    private = _materialize(tmp_path, ["stores.city", "customers"])
    index = PydanticJsonIOManager(base_dir=str(tmp_path / "assets")).load_previous(dg.AssetKey("schema_index"), "sales_cn")
    assert not any(v.table == "customers" or (v.table, v.column) == ("stores", "city") for v in index.values)
    assert "stores.city" in index.skipped_columns and index.version != stored.version
    assert private.asset_materializations_for_node("schema_index")[0].metadata["columns_not_sampled"].value
