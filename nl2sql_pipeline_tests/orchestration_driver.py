"""Evaluates the drift sensor or the nightly schedule and executes their run requests in this
process, on the persistent instance of $DAGSTER_HOME, one command per line on stdin:

    sensor                 -> evaluate `schema_drift` once, run what it requests
    schedule 2026-11-28T02 -> evaluate `nightly_data_create` for that tick, run what it requests
    stale                  -> the data_create assets (and the export) Dagster finds stale or missing

Each answer is one JSON line on stdout. It runs in its own process because the partitions come
from $NL2SQL_DATABASES when the code location is imported (a test's own configuration).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import sys

import dagster as dg


def _execute(defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, requests: list[dg.RunRequest]) -> dict:
    from nl2sql_pipeline.run import QUIET, Outcome

    runs = []
    for request in requests:
        job = defs.resolve_job_def(request.job_name or job_name)
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries the answers only
            result = job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=request.tags,
                                            run_config=QUIET, raise_on_error=False)
            outcome = Outcome(result)
        run = instance.get_run_by_id(result.run_id)
        runs.append({
            "partition": request.partition_key, "success": outcome.success, "tags": dict(run.tags) if run else {},
            "ran": {k.to_user_string(): why for k, why in outcome.ran.items()},
            "reused": [k.to_user_string() for k in outcome.reused],
        })
    return {"requests": [r.partition_key for r in requests], "runs": runs}


def _stale(defs: dg.Definitions, instance: dg.DagsterInstance) -> dict:
    from nl2sql_pipeline.defs.settings import databases
    from nl2sql_pipeline.defs.staleness import stale_or_missing

    keys = list(defs.resolve_job_def("data_refresh_job").asset_layer.executable_asset_keys)
    found = {}
    for db in databases().databases:
        found[db.name] = sorted(k.to_user_string() for k in stale_or_missing(instance, defs, keys, db.name))
    return {"stale": found}


def main() -> None:
    from nl2sql_pipeline.definitions import defs
    from nl2sql_pipeline.defs.settings import DatabasesResource

    instance = dg.DagsterInstance.get()
    resources = {"databases": DatabasesResource()}
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "sensor":
            sensor = defs.resolve_sensor_def("schema_drift")
            with dg.build_sensor_context(instance=instance, resources=resources, definitions=defs) as context:
                requests = list(sensor(context) or [])
            answer = _execute(defs, instance, sensor.job_name, requests)
        elif command == "schedule":
            schedule = defs.resolve_schedule_def("nightly_data_create")
            with dg.build_schedule_context(instance=instance, resources=resources,
                                           scheduled_execution_time=datetime.datetime.fromisoformat(argument),
                                           repository_def=defs.get_repository_def()) as context:
                requests = list(schedule.evaluate_tick(context).run_requests or [])
            answer = _execute(defs, instance, schedule.job_name, requests)
        elif command == "stale":
            answer = _stale(defs, instance)
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
