"""Steps 1-3 of data_create as partitioned assets (one partition per configured database)."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from nl2sql_pipeline.core import access, cards, chinese, connection, selection
from nl2sql_pipeline.core.cards import TableCards, build_cards
from nl2sql_pipeline.core.connection import ConnectionReport, probe
from nl2sql_pipeline.core.schema import catalog, descriptions, metadata, reflection
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.schema.diff import diff_schemas
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.semantics import legend
from nl2sql_pipeline.defs.conditions import ON_CONTENT_CHANGE
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.partitioned import per_partition_output, upstream
from nl2sql_pipeline.defs.settings import DatabasesResource, database_partitions
from nl2sql_pipeline.defs.settings import databases as databases_file
from nl2sql_pipeline.defs.versioning import code_version, content_version

GROUP = "data_create"
PARTITIONS = database_partitions()
# `dagster asset materialize --partition-range a...b` needs every selected asset single-run.
BACKFILL = dg.BackfillPolicy.single_run()
COMMON: dict[str, Any] = dict(
    group_name=GROUP,
    partitions_def=PARTITIONS,
    backfill_policy=BACKFILL,
    io_manager_key="json_io_manager",
    automation_condition=ON_CONTENT_CHANGE,
)


@dg.observable_source_asset(
    group_name=GROUP,
    partitions_def=PARTITIONS,
    description="The live schema of each database; its data version is the schema fingerprint.",
)
def db_schema(context: dg.OpExecutionContext) -> dg.DataVersionsByPartition:
    """Observing this (UI: 'Observe sources', the drift sensor, `make demo`) tells Dagster whether
    db_metadata and everything downstream is stale, with one batched catalog read per database."""
    return dg.DataVersionsByPartition(
        {db.name: read_schema(db).fingerprint() for db in databases_file().databases}
    )


def _connection_metadata(report: ConnectionReport) -> Mapping[str, Any]:
    return report.model_dump(exclude={"database", "backend"})  # the URL in it is already masked


@dg.asset(kinds={"sqlalchemy"}, code_version=code_version(connection), **COMMON)
def db_connection(context: dg.AssetExecutionContext, databases: DatabasesResource) -> dg.Output:
    """Step 1: the database answers; its dialect, server version, table count, latency, read-only."""
    return per_partition_output(
        context,
        lambda key: probe(databases.get(key)),
        _connection_metadata,
        # latency differs on every probe; what the server *is* decides the version
        version=lambda r: content_version(r.model_dump_json(exclude={"latency_ms"})),
    )


def _metadata_metadata(meta: SchemaMetadata) -> Mapping[str, Any]:
    rows = "\n".join(
        f"| {t.name} | {t.comment or ''} | {len(t.columns)} | {', '.join(t.primary_key)} | "
        f"{', '.join(fk.ref_table for fk in t.foreign_keys)} | {t.row_count if t.row_count is not None else ''} |"
        for t in meta.tables
    )
    return {
        "fingerprint": meta.fingerprint(),
        "table_count": len(meta.tables),
        "column_count": sum(len(t.columns) for t in meta.tables),
        "foreign_key_count": sum(len(t.foreign_keys) for t in meta.tables),
        "commented_columns": sum(1 for t in meta.tables for c in t.columns if c.comment),
        "notes": "\n".join(meta.notes) or "none",
        "tables": dg.MetadataValue.md(
            "| table | comment | columns | primary key | references | rows |\n|---|---|---|---|---|---|\n" + rows
        ),
    }


@dg.asset(
    kinds={"sqlalchemy"},
    code_version=code_version(metadata, reflection, descriptions, catalog, access, selection),
    deps=[db_connection, db_schema],
    **COMMON,
)
def db_metadata(
    context: dg.AssetExecutionContext,
    databases: DatabasesResource,
    json_io_manager: dg.ResourceParam[PydanticJsonIOManager],  # the stored previous value, for the drift diff
) -> dg.Output:
    """Step 2: tables, columns (types, nullability, defaults, comments), primary and foreign keys.

    Its data version is the schema fingerprint: with an unchanged schema, everything downstream
    stays fresh even when row counts move. When the schema drifted, the metadata says how.
    """

    def compute(key: str) -> SchemaMetadata:
        meta = read_schema(databases.get(key))
        previous = json_io_manager.load_previous(context.asset_key, key)
        if previous is not None and previous.fingerprint() != meta.fingerprint():
            change = diff_schemas(previous, meta)
            context.add_asset_metadata({"schema_changes": change.summary()}, partition_key=key)
            context.log.info(f"{key}: schema changed: {change.summary()}")
        return meta

    return per_partition_output(
        context, compute, _metadata_metadata, version=lambda meta: dg.DataVersion(meta.fingerprint())
    )


def _cards_metadata(table_cards: TableCards) -> Mapping[str, Any]:
    tokens = [c.tokens for c in table_cards.cards]
    preview = "\n\n".join(c.text for c in table_cards.cards[:3])
    return {
        "card_count": len(tokens),
        "total_tokens": sum(tokens),
        "max_card_tokens": max(tokens, default=0),
        "preview": dg.MetadataValue.md(f"```\n{preview}\n```"),
    }


@dg.asset(kinds={"python"}, code_version=code_version(cards, legend, chinese), **COMMON)
def table_cards(context: dg.AssetExecutionContext, db_metadata: Any) -> dg.Output:
    """Step 3: a compact card per table (columns, keys, comments, FK links both ways), DDL, tokens."""
    return per_partition_output(context, lambda key: build_cards(upstream(context, db_metadata, key)), _cards_metadata)
