"""`python -m nl2sql_pipeline.run demo`: the main job on every configured database, recorded in
the persistent Dagster instance ($DAGSTER_HOME) so that `make ui` shows each run.

Lazy, and converging in one run: each database's schema is observed first (one catalog read),
then one run per database selects every data_create asset (`nl2sql/converge` tag), and each asset
reuses its stored value unless its code, settings or an input's data version changed, also when
that input changed earlier in the same run (defs/convergence.py). The export over all databases
runs last the same way. Each line says what ran because of what, and what was reused.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import dagster as dg

from nl2sql_pipeline.core.config import databases_config_path, nl2sql_home
from nl2sql_pipeline.core.errors import Nl2SqlError

# Step logs stay in the run history (the UI shows them); the terminal gets the summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class Outcome:
    """What one converging run did: the assets it computed (with why) and those it reused."""

    def __init__(self, result: dg.ExecuteInProcessResult) -> None:
        from nl2sql_pipeline.defs.convergence import RAN_BECAUSE, REUSED

        self.success = result.success
        self.ran: dict[dg.AssetKey, str] = {}
        self.reused: list[dg.AssetKey] = []
        for event in result.all_events:
            if event.is_step_materialization:
                done = event.event_specific_data.materialization
                meta = done.metadata
                if meta.get(REUSED) is not None and meta[REUSED].value:
                    self.reused.append(done.asset_key)
                else:
                    self.ran[done.asset_key] = meta[RAN_BECAUSE].value if RAN_BECAUSE in meta else "requested"
            elif event.is_step_failure and event.step_failure_data.error:
                print(f"    {event.step_key} failed: {event.step_failure_data.error.message.strip()}")

    def line(self) -> str:
        return f"ran {_names(list(self.ran))}; reused {_names(self.reused)}"

    def because(self) -> list[str]:
        """`table_cards: upstream db_metadata changed`, for what ran for a reason worth saying."""
        from nl2sql_pipeline.defs.convergence import ALWAYS_COMPUTE, ROUTINE

        routine = set(ALWAYS_COMPUTE.values()) | ROUTINE
        never = [k for k, why in self.ran.items() if why == "never materialized"]
        lines = [f"      {_names(never)}: never materialized"] if never else []  # a first run: one line
        return lines + [f"      {k.to_user_string()}: {why}" for k, why in self.ran.items()
                        if why not in routine and k not in never]


def _run(job: dg.JobDefinition, instance: dg.DagsterInstance, partition: str | None) -> Outcome:
    """One converging run of the whole job: each asset decides whether it is out of date."""
    from nl2sql_pipeline.defs.convergence import CONVERGE_TAGS

    return Outcome(job.execute_in_process(
        partition_key=partition, instance=instance, raise_on_error=False, run_config=QUIET,
        tags={**CONVERGE_TAGS, "nl2sql/trigger": "demo"},
    ))


def _names(keys: list[dg.AssetKey]) -> str:
    return ", ".join(k.to_user_string() for k in keys) or "nothing"


def demo(partitions: list[str] | None = None) -> int:
    from nl2sql_pipeline.definitions import defs
    from nl2sql_pipeline.defs.settings import databases
    from nl2sql_pipeline.defs.staleness import observe_schemas

    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: runs would not be kept. Use `make demo`, or export DAGSTER_HOME.", file=sys.stderr)
        return 2
    configured = [d for d in databases().databases if not partitions or d.name in partitions]
    instance = dg.DagsterInstance.get()
    print(f"Configuration: {databases_config_path()}")
    changed = observe_schemas(instance, configured)
    job = defs.resolve_job_def("data_create_job")
    failed = []
    for db in configured:
        started = time.perf_counter()
        outcome = _run(job, instance, db.name)
        drift = " (schema changed)" if db.name in changed and changed[db.name][0] else ""
        print(f"  {db.name:<20} {'ok' if outcome.success else 'FAILED'} in {time.perf_counter() - started:.1f}s{drift}: "
              f"{outcome.line()}")
        for because in outcome.because():
            print(because)
        _print_notes(db.name, list(outcome.ran))
        if not outcome.success:
            failed.append(db.name)
    if "dataset_job" in {j.name for j in defs.resolve_all_job_defs()}:
        outcome = _run(defs.resolve_job_def("dataset_job"), instance, None)
        print(f"  {'(all databases)':<20} {'ok' if outcome.success else 'FAILED'}: {outcome.line()}")
        for because in outcome.because():
            print(because)
        failed += [] if outcome.success else ["dataset"]
    _summary()
    return 1 if failed else 0


NOTES_SHOWN = 8  # per asset; the rest stay in the stored asset and its metadata
INTERNAL_NOTES = ("rejected candidates:",)


def _print_notes(database: str, ran: list[dg.AssetKey]) -> None:
    """The notes the assets that just ran stored (unknown tables in a descriptions file, hidden
    tables, dropped topics, masked values...): a console user would not open the JSON files."""
    import json

    seen: set[str] = set()  # downstream assets carry their inputs' notes along
    for key in ran:
        path = nl2sql_home() / "assets" / Path(*key.path) / f"{database}.json"
        try:
            notes = json.loads(path.read_text(encoding="utf-8"))["value"].get("notes") or []
        except (OSError, ValueError, KeyError, AttributeError):  # no stored model: nothing to say
            continue
        # the synthesizer's internal candidate counts are diagnostics, not something to act on
        notes = [n for n in notes if n not in seen and not n.startswith(INTERNAL_NOTES)]
        seen.update(notes)
        for note in notes[:NOTES_SHOWN]:
            print(f"      {key.to_user_string()}: {note}")
        if len(notes) > NOTES_SHOWN:
            print(f"      {key.to_user_string()}: ... {len(notes) - NOTES_SHOWN} more notes in {path}")


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
    instance.event_log_storage.set_concurrency_slots("export", 1)  # the export over all databases, one at a time
    print(f"Dagster instance ready in {home} (llm: {limits.llm_runs}, gpu: {limits.gpu_runs}, export: 1).")
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
