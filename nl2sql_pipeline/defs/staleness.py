"""Observing database schemas and asking Dagster which assets are stale.

A database is external state, so its schema is an observable source asset (`db_schema`) whose
data version is the schema fingerprint: one observation per database tells Dagster whether
anything downstream is stale. `make demo`, the nightly schedule and the drift sensor share this.
"""

from collections.abc import Iterable

import dagster as dg
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.data_version import DATA_VERSION_TAG, CachingStaleStatusResolver, StaleStatus
from dagster._time import get_current_datetime

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.schema.catalog import read_schema

SCHEMA_KEY = dg.AssetKey("db_schema")


def last_observed_fingerprint(instance: dg.DagsterInstance, partition: str) -> str | None:
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=SCHEMA_KEY, asset_partitions=[partition]), limit=1
    ).records
    return records[0].asset_observation.tags.get(DATA_VERSION_TAG) if records else None


def observation(db: DatabaseConfig) -> dg.AssetObservation:
    fingerprint = read_schema(db).fingerprint()
    return dg.AssetObservation(asset_key=SCHEMA_KEY, partition=db.name, tags={DATA_VERSION_TAG: fingerprint})


def observe_schemas(instance: dg.DagsterInstance, databases: Iterable[DatabaseConfig]) -> dict[str, tuple[str | None, str]]:
    """Record each database's fingerprint; return {name: (previous, current)} for those that changed."""
    changed = {}
    for db in databases:
        event = observation(db)
        current = event.tags[DATA_VERSION_TAG]
        previous = last_observed_fingerprint(instance, db.name)
        if previous != current:
            instance.report_runless_asset_event(event)
            changed[db.name] = (previous, current)
    return changed


def stale_or_missing(
    instance: dg.DagsterInstance, defs: dg.Definitions, keys: Iterable[dg.AssetKey], partition: str | None
) -> list[dg.AssetKey]:
    """The keys Dagster considers STALE or MISSING (for `partition` where they are partitioned)."""
    graph = defs.resolve_asset_graph()
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)
    result = []
    for key in keys:
        node = graph.get(key)
        status = resolver.get_status(key, partition if node.is_partitioned else None)
        if status in (StaleStatus.STALE, StaleStatus.MISSING):
            result.append(key)
    return result
