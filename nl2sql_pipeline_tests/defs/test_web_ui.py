"""The web UI, tested as a person would: `dagster dev` on loopback, headless Chromium on the asset
pages, a materialization started through the UI's GraphQL API, its metadata visible, a screenshot
kept as a test artifact (test-artifacts/ or $NL2SQL_TEST_ARTIFACTS)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nl2sql_pipeline_tests.conftest import REPO
from nl2sql_pipeline_tests.servers import IN_CI

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("NL2SQL_TEST_ARTIFACTS", REPO / "test-artifacts"))


def _need_browser() -> None:
    missing = "Debian's chromium (apt-get install chromium)" if not CHROMIUM else None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package (pip install playwright)"
    if missing:
        (pytest.fail if IN_CI else pytest.skip)(f"the web UI test needs {missing}; `make test` installs both")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = json.load(resp)
    assert "errors" not in data, data
    return data["data"]


@pytest.fixture
def dagster_dev(tmp_path: Path):
    _need_browser()
    home = tmp_path / "dagster_home"
    env = dict(os.environ, DAGSTER_HOME=str(home), NL2SQL_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO),
               OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "nl2sql_pipeline.run", "prepare"], env=env, cwd=REPO, check=True,
                   capture_output=True)
    port = _free_port()
    log = open(tmp_path / "dagster_dev.log", "w")
    # dagster dev ignores SIGTERM unless started in its own session with default signal handling.
    proc = subprocess.Popen(
        ["setsid", "env", "--default-signal=INT,TERM", str(Path(sys.executable).parent / "dagster"), "dev",
         "-m", "nl2sql_pipeline.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                time.sleep(2)
        else:
            pytest.fail("dagster dev did not answer within 240 s:\n" + (tmp_path / "dagster_dev.log").read_text()[-3000:])
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
    assert proc.poll() is not None


LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"


def test_ui_lists_assets_runs_a_materialization_and_shows_metadata(dagster_dev: int) -> None:
    from playwright.sync_api import sync_playwright

    port = dagster_dev
    location = _graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"][0]["name"]
    params = {
        "selector": {"repositoryLocationName": location, "repositoryName": "__repository__", "jobName": "data_create_job"},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "concert_singer"}]},
        "runConfigData": {},
    }
    launched = _graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline, status = time.monotonic() + 400, None
    while time.monotonic() < deadline:
        status = _graphql(port, STATUS, {"id": run_id})["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(3)
    assert status == "SUCCESS", f"run {run_id} ended {status}"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/assets", wait_until="networkidle", timeout=120_000)
        from nl2sql_pipeline.definitions import defs

        groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
        for group in sorted(groups):  # every group's assets are listed
            page.get_by_text(group, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "asset_catalog.png"), full_page=True)
        page.goto(f"http://127.0.0.1:{port}/locations/{location}/asset-groups/data_create", wait_until="networkidle",
                  timeout=120_000)
        for name in ("db_schema", "table_cards", "validated_samples", "training_dataset"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "asset_graph.png"))
        page.goto(f"http://127.0.0.1:{port}/assets/db_metadata?partition=concert_singer", wait_until="networkidle",
                  timeout=120_000)
        page.get_by_text("table_count").first.wait_for(timeout=60_000)
        page.get_by_text("fingerprint").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "db_metadata.png"), full_page=True)
        page.goto(f"http://127.0.0.1:{port}/assets/validated_samples?partition=concert_singer",
                  wait_until="networkidle", timeout=120_000)
        for key in ("accepted", "by_hardness", "rejections_by_reason"):  # counts and the hardness table
            page.get_by_text(key).first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "validated_samples.png"), full_page=True)
        browser.close()
    assert (ARTIFACTS / "asset_graph.png").stat().st_size > 10_000
