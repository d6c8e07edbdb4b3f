"""Runs that converge: one run after a change brings everything downstream up to date.

Selecting what is stale when a run is *planned* misses what becomes stale *during* the run (an
upstream that gets a new data version). So a converging run (tag `nl2sql/converge`: `make demo`,
the drift sensor, the nightly schedule, `data_refresh_job`) selects everything downstream, and
each asset decides when its step starts, after its upstreams ran in this run: if Dagster finds it
fresh (same code version, every input at the data version it last read) and its settings are
unchanged, it returns its stored value with its stored data version and metadata, so its own
downstream stay fresh and nothing expensive (an LLM call, a training run) is repeated. Otherwise
it computes, and its metadata (and the run's tags) say why: "upstream db_metadata changed".

Runs without the tag (an explicit Materialize) compute as asked and record why all the same.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import (
    DATA_VERSION_TAG, CachingStaleStatusResolver, StaleCauseCategory, StaleStatus,
)
from dagster._time import get_current_datetime
from dagster_shared.check import CheckError

from nl2sql_pipeline.core.errors import Nl2SqlError

CONVERGE_TAG = "nl2sql/converge"
CONVERGE_TAGS = {CONVERGE_TAG: "true"}
# Materialization metadata keys: why the asset ran (or "reused: ..."), and what its settings were.
RAN_BECAUSE = "ran_because"
REUSED = "reused"
SETTINGS_DIGEST = "settings_digest"
# Written by the IO managers on every output; copying them from the stored record would clash.
_IO_METADATA = {"path", "size_bytes", "row_count"}
# The probe and the schema read are the point of a run and cost one catalog round trip.
ALWAYS_COMPUTE = {
    dg.AssetKey("db_connection"): "probes the database on every run",
    dg.AssetKey("db_metadata"): "reads the live schema on every run",
}
_NOT_CONVERGING = "requested (not a converging run)"
# reasons that hold for every run, not worth a console line
ROUTINE = {"reads the feedback file on every run", "reads the query log on every run"}
FEEDBACK = dg.AssetKey("feedback_pairs")
QUERY_LOG = dg.AssetKey("logged_queries")


def outside_input(context: dg.AssetExecutionContext, partition: str | None) -> str | None:
    """Why an asset whose input changes outside Dagster's view must be read in every run: the
    feedback file (the ask page appends to it) and a query log (report files, pg_stat_statements).
    Unchanged content keeps its data version, so its downstream stay fresh."""
    from nl2sql_pipeline.core.ask.feedback import feedback_path

    if partition is None:
        return None
    if context.asset_key == FEEDBACK and feedback_path(partition).exists():
        return "reads the feedback file on every run"
    if context.asset_key == QUERY_LOG:
        resource = getattr(context.resources, "databases", None)
        try:
            db = resource.get(partition) if resource is not None else None
        except Nl2SqlError:
            db = None
        if db is not None and db.query_log:
            return "reads the query log on every run"
    return None


def is_converging(context: dg.AssetExecutionContext) -> bool:
    return context.run.tags.get(CONVERGE_TAG) == "true"


def settings_digest(context: dg.AssetExecutionContext, partition: str | None) -> str:
    """What decides the output besides inputs and code: the database's entry and the run config."""
    from nl2sql_pipeline.defs.settings import databases as configured

    # the asset's own `databases` resource where it has one (it may name another file)
    resource = getattr(context.resources, "databases", None)
    parts: list[Any] = [context.op_execution_context.op_config or {}]
    try:
        file = resource.file() if resource is not None else configured()
        if partition is None:  # a fan-in over all databases: which ones there are
            parts.append([db.name for db in file.databases])
        else:
            parts.append(file.get(partition).model_dump(mode="json"))
    except Nl2SqlError:  # e.g. a partition no longer configured: its settings are gone, never equal
        parts.append(None)
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _own_partition(context: dg.AssetExecutionContext, partition: str | None) -> str | None:
    return partition if context.assets_def.partitions_def is not None else None


def _latest_record(context: dg.AssetExecutionContext, partition: str | None) -> dg.EventLogRecord | None:
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    return records[0] if records else None


def _asset_graph(context: dg.AssetExecutionContext) -> Any:
    """The whole code location's asset graph. A job's own graph will not do: it sees upstreams
    outside the job (the export's inputs in dataset_job) as external and misses their changes."""
    try:
        return context.repository_def.asset_graph
    except CheckError:  # execute_in_process (make demo, tests) sets no repository on the step
        from nl2sql_pipeline.definitions import defs

        return defs.resolve_asset_graph()


def stale_reasons(context: dg.AssetExecutionContext, partition: str | None) -> list[str]:
    """Why Dagster considers this asset (partition) out of date now; [] when it is fresh."""
    graph = _asset_graph(context)
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=context.instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance=context.instance, asset_graph=graph, loading_context=view)
    status = resolver.get_status(context.asset_key, partition)
    if status == StaleStatus.MISSING:
        return ["never materialized"]
    if status == StaleStatus.FRESH:
        return []
    reasons, changed = [], []
    for cause in resolver.get_stale_causes(context.asset_key, partition):
        if cause.category == StaleCauseCategory.CODE:
            reasons.append("code version changed")
        elif cause.category == StaleCauseCategory.DATA and cause.dependency is not None:
            dep = cause.dependency.asset_key.to_user_string()
            own = _own_partition(context, partition)
            # a fan-in names the database whose input changed
            changed.append(dep if cause.dependency.partition_key in (None, own) else f"{dep}[{cause.dependency.partition_key}]")
        else:
            reasons.append(cause.reason)
    if changed:
        reasons.insert(0, f"upstream {', '.join(dict.fromkeys(changed))} changed")
    return reasons


def decide(context: dg.AssetExecutionContext, partition: str | None) -> tuple[list[str], dg.EventLogRecord | None]:
    """(reasons to compute, the stored record): no reasons means the stored value may be reused."""
    partition = _own_partition(context, partition)
    try:
        reasons = stale_reasons(context, partition)
    except Exception as err:  # bookkeeping must never block a run: when in doubt, compute
        context.log.warning(f"{context.asset_key.to_user_string()}: staleness unknown ({err}); computing it")
        return [f"staleness unknown: {type(err).__name__}"], None
    if context.asset_key in ALWAYS_COMPUTE:
        return reasons or [ALWAYS_COMPUTE[context.asset_key]], None
    outside = outside_input(context, partition)
    if outside:
        return reasons or [outside], None
    if not is_converging(context):
        return reasons or [_NOT_CONVERGING], None
    if reasons:
        return reasons, None
    record = _latest_record(context, partition)
    stored = record.asset_materialization if record else None
    if stored is None or DATA_VERSION_TAG not in (stored.tags or {}):
        return ["no stored data version"], None
    digest = stored.metadata.get(SETTINGS_DIGEST)
    if digest is None or digest.value != settings_digest(context, partition):
        name = f"the settings of {partition}" if partition else "the run config"
        return [f"{name} changed"], None
    return [], record


def _io_manager(context: dg.AssetExecutionContext) -> Any:
    return getattr(context.resources, context.assets_def.get_io_manager_key_for_asset_key(context.asset_key))


def reuse_or_compute(
    context: dg.AssetExecutionContext,
    partition: str | None,
    compute: Callable[[], dg.Output],
    intact: Callable[[Any, dg.DataVersion], bool] = lambda value, version: True,
) -> dg.Output:
    """The stored Output when the asset is fresh in a converging run (and `intact` agrees that
    what it stands for is still there), else `compute()`; either way with why in the metadata."""
    reasons, record = decide(context, partition)
    own = _own_partition(context, partition)
    if record is not None:
        stored = record.asset_materialization
        value = _io_manager(context).load_previous(context.asset_key, own)
        version = dg.DataVersion(stored.tags[DATA_VERSION_TAG])
        if value is not None and intact(value, version):
            metadata = {k: v for k, v in stored.metadata.items() if k not in _IO_METADATA and not k.startswith("dagster/")}
            metadata.update({REUSED: True, RAN_BECAUSE: "reused: inputs, code and settings unchanged"})
            _tag_run(context, "reused")
            return dg.Output(value, data_version=version, metadata=metadata)
        reasons = ["stored value missing"]
    output = compute()
    because = "; ".join(reasons)
    _tag_run(context, because)
    extra = {RAN_BECAUSE: because, REUSED: False, SETTINGS_DIGEST: settings_digest(context, own)}
    return output.with_metadata({**(output.metadata or {}), **extra})


def converging(intact: Callable[[Any, dg.DataVersion], bool] = lambda value, version: True) -> Callable:
    """`reuse_or_compute` for an asset that returns one Output (an unpartitioned one, e.g. the export)."""

    def wrap(fn: Callable[..., dg.Output]) -> Callable[..., dg.Output]:
        @functools.wraps(fn)  # Dagster reads the parameters through __wrapped__
        def asset_fn(context: dg.AssetExecutionContext, *args: Any, **kwargs: Any) -> dg.Output:
            return reuse_or_compute(context, None, lambda: fn(context, *args, **kwargs), intact)

        return asset_fn

    return wrap


def _tag_run(context: dg.AssetExecutionContext, because: str) -> None:
    """The run's own record of what ran because of what (Runs tab, run tags)."""
    key = f"nl2sql/because/{context.asset_key.to_user_string()}"
    context.instance.add_run_tags(context.run.run_id, {key: because})
