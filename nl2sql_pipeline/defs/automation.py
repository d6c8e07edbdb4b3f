"""When assets run by themselves: the nightly schedule and the schema-drift sensor (settings:
configs/orchestration.yaml). The assets' automation condition lives in defs/conditions.py.

Both request `data_refresh_job` runs, which converge: a run selects every data_create asset of
its database and the export, and each asset reuses its stored value unless something it depends
on changed earlier in that run (defs/convergence.py). Selecting only what is stale when the run
is planned would leave behind what an upstream's new data version makes stale during the run."""

import dagster as dg

from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.defs.convergence import CONVERGE_TAGS
from nl2sql_pipeline.defs.jobs import data_refresh_job
from nl2sql_pipeline.defs.settings import DatabasesResource, orchestration
from nl2sql_pipeline.defs.staleness import observe_schemas


def nightly_schedule() -> dg.ScheduleDefinition:
    settings = orchestration().nightly_schedule

    @dg.schedule(
        name="nightly_data_create",
        job=data_refresh_job,
        cron_schedule=settings.cron,
        execution_timezone=settings.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING if settings.enabled else dg.DefaultScheduleStatus.STOPPED,
        description="Every night, per database: observe its schema, then bring data_create and the export up to date in one run.",
    )
    def _nightly(context: dg.ScheduleEvaluationContext, databases: DatabasesResource):
        configured = databases.file().databases
        observe_schemas(context.instance, configured)
        day = f"{context.scheduled_execution_time:%Y-%m-%d}"
        for db in configured:
            yield dg.RunRequest(run_key=f"{db.name}:{day}", partition_key=db.name, tags={"nl2sql/trigger": "nightly", **CONVERGE_TAGS})

    return _nightly


def schema_drift_sensor() -> dg.SensorDefinition:
    settings = orchestration().schema_drift

    @dg.sensor(
        name="schema_drift",
        job=data_refresh_job,
        minimum_interval_seconds=settings.interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING if settings.enabled else dg.DefaultSensorStatus.STOPPED,
        description="Observes each database's schema fingerprint; where it changed, one run brings everything downstream up to date.",
    )
    def _drift(context: dg.SensorEvaluationContext, databases: DatabasesResource):
        for db in databases.file().databases:
            try:
                changed = observe_schemas(context.instance, [db])
            except Nl2SqlError as err:  # one unreachable database must not hide drift in the others
                context.log.warning(f"{db.name}: {err}")
                continue
            if db.name in changed:
                previous, current = changed[db.name]
                context.log.info(f"{db.name}: schema fingerprint {previous} -> {current}")
                yield dg.RunRequest(
                    run_key=f"{db.name}:{current}",
                    partition_key=db.name,
                    tags={"nl2sql/trigger": "schema_drift", "nl2sql/fingerprint": current, **CONVERGE_TAGS},
                )

    return _drift
