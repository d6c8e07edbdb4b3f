"""Per-database assets that also run over a partition range in one run (single-run backfills)."""

import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import dagster as dg
from pydantic import BaseModel

from nl2sql_pipeline.defs.convergence import reuse_or_compute
from nl2sql_pipeline.defs.versioning import content_version

T = TypeVar("T", bound=BaseModel)

# Output(data_version=...) is marked beta, but it is how content versions reach the UI.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


def partition_keys(context: dg.AssetExecutionContext) -> list[str]:
    return list(context.partition_keys) if context.has_partition_key_range else [context.partition_key]


def upstream(context: dg.AssetExecutionContext, value: Any, key: str) -> Any:
    """An upstream value for one partition: a range run receives {partition: value}."""
    return value[key] if context.has_partition_key_range else value


def per_partition_output(
    context: dg.AssetExecutionContext,
    compute: Callable[[str], T],
    describe: Callable[[T], Mapping[str, Any]],
    version: Callable[[T], dg.DataVersion] = content_version,
) -> dg.Output:
    """Compute each partition, attach its own metadata, and version the output by its content.

    Dagster records one data version per output, so in a range run the partitions share a
    combined content hash; single-partition runs (the usual case) get their exact one, and in a
    converging run reuse their stored value when nothing they depend on changed (defs/convergence.py).
    """
    keys = partition_keys(context)
    if not context.has_partition_key_range:

        def one() -> dg.Output:
            value = compute(keys[0])
            return dg.Output(value, metadata=dict(describe(value)), data_version=version(value))

        return reuse_or_compute(context, keys[0], one)
    values = {key: compute(key) for key in keys}
    for key, value in values.items():
        context.add_asset_metadata(dict(describe(value)), partition_key=key)
    combined = "".join(f"{k}:{version(v).value};" for k, v in sorted(values.items()))
    return dg.Output(values, data_version=content_version(combined))
