"""Orchestration as users rely on it: lazy re-runs, schema drift, sensor, schedule, CLI backfills.

The runs go through the real CLI and the persistent instance in a temporary DAGSTER_HOME, with a
temporary databases.yaml: partitions come from the configuration, not from code.
"""

import datetime
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from nl2sql_pipeline_tests.conftest import REPO


@pytest.fixture
def workspace(tmp_path: Path, demo_dir: Path) -> dict[str, str]:
    """Two SQLite databases we may alter, a config naming them, and a persistent instance."""
    for name in ("shop_a", "shop_b"):
        shutil.copy(demo_dir / "concert_singer.sqlite", tmp_path / f"{name}.sqlite")
    config = tmp_path / "databases.yaml"
    config.write_text(
        "databases:\n"
        + "".join(f"  - name: {n}\n    url: sqlite:///{tmp_path / n}.sqlite\n    sample_budget: 40\n    language: en\n"
                  for n in ("shop_a", "shop_b")),
        encoding="utf-8",
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ, NL2SQL_DATABASES=str(config), DAGSTER_HOME=str(home), NL2SQL_HOME=str(tmp_path / "home"),
               PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return {"env": env, "dir": str(tmp_path), "home": str(home)}


def _demo(env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.run", "demo"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_second_run_reuses_and_schema_drift_reruns(workspace: dict) -> None:
    first = _demo(workspace["env"])
    assert "shop_a" in first and "reused nothing" in first
    second = _demo(workspace["env"])  # the probe and the schema read run; everything else is reused
    assert second.count("ran db_connection, db_metadata; reused ") == 2, second

    with sqlite3.connect(Path(workspace["dir"]) / "shop_b.sqlite") as conn:
        conn.execute("alter table singer add column Nickname text")
    third = _demo(workspace["env"])
    line_a = next(l for l in third.splitlines() if "shop_a" in l)
    line_b = next(l for l in third.splitlines() if "shop_b" in l)
    assert "ran db_connection, db_metadata; reused " in line_a  # untouched database: nothing recomputed
    assert "(schema changed)" in line_b and "table_cards" in line_b.split("reused")[0]

    instance = dg.DagsterInstance.from_config(workspace["home"])
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("db_metadata"), asset_partitions=["shop_b"]), limit=1
    ).records[0]
    assert "columns added: singer.Nickname" in record.asset_materialization.metadata["schema_changes"].value


def test_cli_backfill_over_a_partition_range(workspace: dict) -> None:
    cmd = [
        str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "nl2sql_pipeline.definitions",
        "--select", "db_connection,db_metadata,table_cards", "--partition-range", "shop_a...shop_b",
    ]
    done = subprocess.run(cmd, env=workspace["env"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(workspace["home"])
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey("table_cards")), limit=10).records
    assert sorted(r.partition_key for r in records) == ["shop_a", "shop_b"]
    assert len({r.run_id for r in records}) == 1  # one run for the whole range (single-run backfill policy)


def test_drift_sensor_and_nightly_schedule(demo_dir: Path) -> None:
    from nl2sql_pipeline.definitions import defs
    from nl2sql_pipeline.defs.settings import DatabasesResource

    with dg.instance_for_test() as instance:  # schedules need a persistent instance
        _sensor_then_schedule(defs, instance, DatabasesResource())


def _sensor_then_schedule(defs: dg.Definitions, instance: dg.DagsterInstance, databases) -> None:
    sensor = defs.resolve_sensor_def("schema_drift")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED  # off unless enabled in orchestration.yaml
    with dg.build_sensor_context(instance=instance, resources={"databases": databases}) as context:
        first = list(sensor(context) or [])
    assert {r.partition_key for r in first} == {"concert_singer", "sales_cn"}
    # converging runs: the whole refresh job, each asset reusing its stored value unless its inputs changed
    assert all(not r.stale_assets_only and r.tags["nl2sql/trigger"] == "schema_drift" for r in first)
    assert all(r.tags["nl2sql/converge"] == "true" and sensor.job_name == "data_refresh_job" for r in first)
    with dg.build_sensor_context(instance=instance, resources={"databases": databases}) as context:
        assert list(sensor(context) or []) == []  # nothing changed since the last observation

    schedule = defs.resolve_schedule_def("nightly_data_create")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.build_schedule_context(
        instance=instance,
        resources={"databases": databases},
        scheduled_execution_time=datetime.datetime(2026, 11, 28, 2),
        repository_def=defs.get_repository_def(),
    ) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert {r.partition_key for r in requests} == {"concert_singer", "sales_cn"}
    assert all(r.tags["nl2sql/converge"] == "true" and schedule.job_name == "data_refresh_job" for r in requests)


def test_automation_follows_content_not_rematerialization(demo_dir: Path) -> None:
    """The assets' condition: nothing after a run that already covered them or a re-run with the
    same content; db_metadata (only) when the observed schema changed."""
    from dagster._core.definitions.data_version import DATA_VERSION_TAG

    from nl2sql_pipeline.definitions import defs
    from nl2sql_pipeline.defs.settings import databases
    from nl2sql_pipeline.defs.staleness import observe_schemas

    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    selection = dg.AssetSelection.assets("db_metadata", "table_cards")

    def requested(result) -> dict[str, list[str]]:
        return {r.key.to_user_string(): sorted(r.true_subset.expensively_compute_partition_keys()) for r in result.results}

    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def("data_create_job")
        observe_schemas(instance, databases().databases)
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection)
        for partition in ("concert_singer", "sales_cn"):
            assert job.execute_in_process(partition_key=partition, instance=instance, run_config=quiet).success
        after_runs = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                       cursor=first.cursor)
        assert requested(after_runs) == {"db_metadata": [], "table_cards": []}

        assert job.execute_in_process(partition_key="sales_cn", instance=instance, run_config=quiet,
                                      asset_selection=[dg.AssetKey("db_metadata")]).success
        same_content = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                         cursor=after_runs.cursor)
        assert requested(same_content) == {"db_metadata": [], "table_cards": []}

        instance.report_runless_asset_event(
            dg.AssetObservation(asset_key="db_schema", partition="concert_singer", tags={DATA_VERSION_TAG: "drifted"})
        )
        drifted = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection,
                                                    cursor=same_content.cursor)
        assert requested(drifted) == {"db_metadata": ["concert_singer"], "table_cards": []}
