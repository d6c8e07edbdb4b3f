"""`python -m nl2sql_pipeline.run demo`: the main job on every configured database, recorded in
the persistent Dagster instance ($DAGSTER_HOME) so that `make ui` shows each run."""

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


def demo(partitions: list[str] | None = None) -> int:
    from nl2sql_pipeline.definitions import defs
    from nl2sql_pipeline.defs.settings import databases

    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: runs would not be kept. Use `make demo`, or export DAGSTER_HOME.", file=sys.stderr)
        return 2
    names = partitions or [d.name for d in databases().databases]
    job = defs.resolve_job_def("data_create_job")
    instance = dg.DagsterInstance.get()
    print(f"Configuration: {databases_config_path()}")
    failed = []
    for name in names:
        started = time.perf_counter()
        result = job.execute_in_process(
            partition_key=name, instance=instance, raise_on_error=False, run_config=QUIET
        )
        status = "ok" if result.success else "FAILED"
        print(f"  {name:<24} {status} in {time.perf_counter() - started:.1f}s (run {result.run_id[:8]})")
        if not result.success:
            failed.append(name)
            for event in result.all_events:
                if event.is_step_failure and event.step_failure_data.error:
                    print(f"    {event.step_key}: {event.step_failure_data.error.message.strip()}")
    home = nl2sql_home()
    print(f"\nArtifacts: {home}/assets/<asset>/<database>.json")
    if (home / "dataset").exists():
        print(f"Training dataset (LLaMA-Factory dataset_dir): {home / 'dataset'}")
    print(f"Run history: {os.environ['DAGSTER_HOME']}; open it with `make ui` (http://127.0.0.1:{os.environ.get('PORT', '3000')}).")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nl2sql_pipeline.run")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="materialize data_create for every configured database")
    p_demo.add_argument("--partition", action="append", help="only these databases (repeatable)")
    args = parser.parse_args(argv)
    try:
        return demo(args.partition)
    except Nl2SqlError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
