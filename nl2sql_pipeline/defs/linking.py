"""The per-database schema index (cards + sampled values) that export, serving and evaluation share."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from nl2sql_pipeline.core import chinese
from nl2sql_pipeline.core.linking import SchemaIndex, build_index, sample_values
from nl2sql_pipeline.core.linking import index as linking_index
from nl2sql_pipeline.core.linking import words as linking_words
from nl2sql_pipeline.defs.audit import audited_executor
from nl2sql_pipeline.defs.data_create import COMMON
from nl2sql_pipeline.defs.partitioned import per_partition_output, upstream
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version


def _index_metadata(value: SchemaIndex) -> Mapping[str, Any]:
    return {
        "version": value.version,
        "tables": len(value),
        "value_columns": len(value.values),
        "values": sum(len(v.values) for v in value.values),
        "columns_not_sampled": dg.MetadataValue.md(", ".join(value.skipped_columns) or "none"),
        "notes": "\n".join(value.notes) or "none",
    }


@dg.asset(kinds={"python"}, code_version=code_version(linking_index, linking_words, chinese), **COMMON)
def schema_index(context: dg.AssetExecutionContext, databases: DatabasesResource, table_cards: Any) -> dg.Output:
    """What schema linking retrieves over: the table cards and distinct values of text columns read
    through the read-only executor (never of columns `synthesis.no_sample` excludes). Its data
    version is a hash of both, so prompts are rebuilt exactly when cards or sampled values change."""

    def compute(key: str) -> SchemaIndex:
        db = databases.get(key)
        cards = upstream(context, table_cards, key)
        values, skipped, notes = sample_values(cards, audited_executor(context, db, "linking"), db.may_sample)
        return build_index(cards, values, skipped_columns=skipped, notes=notes)

    return per_partition_output(context, compute, _index_metadata, version=lambda v: dg.DataVersion(v.version))
