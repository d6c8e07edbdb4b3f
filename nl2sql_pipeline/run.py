"""`python -m nl2sql_pipeline.run demo`: the main job on every configured database, recorded in
the persistent Dagster instance ($DAGSTER_HOME) so that `make ui` shows each run.

Lazy like the UI's "Materialize stale": each database's schema is observed first (one catalog
read), then only assets Dagster reports as stale or missing run; the rest are reused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import dagster as dg

from nl2sql_pipeline.core.config import databases_config_path, nl2sql_home
from nl2sql_pipeline.core.errors import Nl2SqlError

# Step logs stay in the run history (the UI shows them); the terminal gets the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# Probing the connection is the point of a run, so it is never skipped as "fresh".
ALWAYS = {dg.AssetKey("db_connection")}
# Inputs that change outside Dagster's view: the feedback file (the ask page appends to it) and a
# query log (report files, pg_stat_statements). Where a database has one, it is read on every
# run, then what its new content made stale runs; unchanged content leaves everything fresh.
FEEDBACK = dg.AssetKey("feedback_pairs")
QUERY_LOG = dg.AssetKey("logged_queries")


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, keys: list[dg.AssetKey], partition: str | None) -> bool:
    result = job.execute_in_process(
        partition_key=partition, instance=instance, raise_on_error=False, run_config=QUIET, asset_selection=keys
    )
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data.error:
                print(f"    {event.step_key} failed: {event.step_failure_data.error.message.strip()}")
    return result.success


def _names(keys: list[dg.AssetKey]) -> str:
    return ", ".join(k.to_user_string() for k in keys) or "nothing"


def demo(partitions: list[str] | None = None) -> int:
    from nl2sql_pipeline.core.ask.feedback import feedback_path
    from nl2sql_pipeline.definitions import defs
    from nl2sql_pipeline.defs.settings import databases
    from nl2sql_pipeline.defs.staleness import observe_schemas, stale_or_missing

    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: runs would not be kept. Use `make demo`, or export DAGSTER_HOME.", file=sys.stderr)
        return 2
    configured = [d for d in databases().databases if not partitions or d.name in partitions]
    instance = dg.DagsterInstance.get()
    print(f"Configuration: {databases_config_path()}")
    changed = observe_schemas(instance, configured)
    job = defs.resolve_job_def("data_create_job")
    keys = sorted(job.asset_layer.executable_asset_keys, key=lambda k: k.to_user_string())
    failed = []
    for db in configured:
        started = time.perf_counter()
        outside = ({FEEDBACK} if feedback_path(db.name).exists() else set()) | ({QUERY_LOG} if db.query_log else set())
        always = ALWAYS | outside
        todo = [k for k in keys if k in always or k in set(stale_or_missing(instance, defs, keys, db.name))]
        reused = [k for k in keys if k not in todo]
        ok = _run(job, instance, todo, db.name)
        if ok and outside:
            after = [k for k in stale_or_missing(instance, defs, keys, db.name) if k not in todo]
            ok = not after or _run(job, instance, after, db.name)
            todo += after
            reused = [k for k in reused if k not in after]
        drift = " (schema changed)" if db.name in changed and changed[db.name][0] else ""
        print(f"  {db.name:<20} {'ok' if ok else 'FAILED'} in {time.perf_counter() - started:.1f}s{drift}: "
              f"ran {_names(todo)}; reused {_names(reused)}")
        if not ok:
            failed.append(db.name)
    if "dataset_job" in {j.name for j in defs.resolve_all_job_defs()}:
        fan_in = defs.resolve_job_def("dataset_job")
        fan_keys = list(fan_in.asset_layer.executable_asset_keys)
        todo = stale_or_missing(instance, defs, fan_keys, None)
        ok = not todo or _run(fan_in, instance, todo, None)
        print(f"  {'(all databases)':<20} {'ok' if ok else 'FAILED'}: ran {_names(todo)}; reused {_names([k for k in fan_keys if k not in todo])}")
        failed += [] if ok else ["dataset"]
    _summary()
    return 1 if failed else 0


def _summary() -> None:
    home = nl2sql_home()
    print(f"\nArtifacts: {home}/assets/<asset>/<database>.json")
    dataset = home / "dataset"
    if (dataset / "report.md").exists():
        print(f"\nTraining dataset (LLaMA-Factory dataset_dir): {dataset}")
        print((dataset / "report.md").read_text(encoding="utf-8").strip())
    print(f"\nRun history: {os.environ['DAGSTER_HOME']}; open it with `make ui` "
          f"(http://127.0.0.1:{os.environ.get('PORT', '3000')}).")


def prepare_instance() -> int:
    """Write $DAGSTER_HOME/dagster.yaml from the repository's, with the run and pool limits of
    configs/orchestration.yaml, so that one file decides them."""
    import yaml

    from nl2sql_pipeline.core.config import REPO_ROOT
    from nl2sql_pipeline.defs.settings import orchestration

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        print("DAGSTER_HOME is not set. Use `make dagster-home`, or export DAGSTER_HOME.", file=sys.stderr)
        return 2
    limits = orchestration().concurrency
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text(encoding="utf-8"))
    config["concurrency"]["runs"]["tag_concurrency_limits"] = [
        {"key": "nl2sql/llm", "limit": limits.llm_runs},
        {"key": "nl2sql/gpu", "limit": limits.gpu_runs},
    ]
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "dagster.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    instance = dg.DagsterInstance.get()
    instance.event_log_storage.set_concurrency_slots("llm", limits.llm_runs)
    instance.event_log_storage.set_concurrency_slots("gpu", limits.gpu_runs)
    print(f"Dagster instance ready in {home} (llm: {limits.llm_runs}, gpu: {limits.gpu_runs}).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nl2sql_pipeline.run")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="materialize what is stale in data_create for every configured database")
    p_demo.add_argument("--partition", action="append", help="only these databases (repeatable)")
    sub.add_parser("prepare", help="write $DAGSTER_HOME/dagster.yaml and set the llm/gpu pool limits")
    args = parser.parse_args(argv)
    try:
        return prepare_instance() if args.command == "prepare" else demo(args.partition)
    except Nl2SqlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
