"""The ask API and page as a user meets them: `nl2sql-serve-ui` under a real uvicorn on loopback,
the WebSocket stage stream, the bearer token, the page in headless Chromium (ask, see rows, send
feedback), and the feedback becoming `feedback_pairs` and train-only `raw_samples`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.core.ask.feedback import feedback_path
from nl2sql_pipeline_tests.conftest import REPO, with_stand_ins
from nl2sql_pipeline_tests.core.ask.test_ask import scripted_answers
from nl2sql_pipeline_tests.core.llm.test_llm_client import Scripted, scripted  # noqa: F401 (fixture)
from nl2sql_pipeline_tests.defs.test_web_ui import ARTIFACTS, CHROMIUM, _need_browser
from nl2sql_pipeline_tests.llm_servers import free_port

TOKEN = "test-token-not-a-secret"


@contextmanager
def ask_server(tmp_path: Path, model_url: str, *, token: str | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "concert_singer", "demo": "concert_singer"}]}))
    port = free_port()
    env = {**os.environ, "NL2SQL_HOME": os.environ["NL2SQL_HOME"], "PYTHONPATH": str(REPO)}
    env.pop("NL2SQL_ASK_TOKEN", None)
    if token:
        env["NL2SQL_ASK_TOKEN"] = token
    log = (tmp_path / f"ask-{port}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "nl2sql_pipeline.ask_app", "--config", str(config), "--endpoint",
                             model_url, "--model", "nl2sql", "--host", host, "--port", str(port)],
                            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / f"ask-{port}.log").read_text()
            try:
                urllib.request.urlopen(f"{url}/api/auth", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def post(url: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def test_http_api_answers_and_records_feedback(scripted: list[Scripted], tmp_path: Path) -> None:
    server = scripted_answers(["SELECT nme FROM singer", "SELECT name FROM singer WHERE age > 40"])
    scripted.append(server)
    with ask_server(tmp_path, server.url) as url:
        status, answer = post(f"{url}/api/ask", {"database": "concert_singer", "question": "Singers over 40?"})
        assert status == 200 and answer["ok"] and len(answer["attempts"]) == 2
        assert [c.lower() for c in answer["columns"]] == ["name"] and answer["rows"]
        assert post(f"{url}/api/ask", {"database": "nope", "question": "?"})[0] == 404
        status, _ = post(f"{url}/api/feedback", {"database": "concert_singer", "question": "Singers over 40?",
                                                 "sql": answer["sql"], "verdict": "correct"})
        assert status == 200
        assert post(f"{url}/api/feedback", {"database": "concert_singer", "question": "q", "sql": "x",
                                            "verdict": "corrected"})[0] == 422  # a correction needs its SQL
    lines = feedback_path("concert_singer").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["verdict"] == "correct"


def test_websocket_streams_the_stages(scripted: list[Scripted], tmp_path: Path) -> None:
    from websockets.sync.client import connect

    server = scripted_answers(["SELECT nme FROM singer", "SELECT count(*) FROM singer"])
    scripted.append(server)
    with ask_server(tmp_path, server.url) as url, connect(url.replace("http", "ws") + "/api/ask/stream") as ws:
        ws.send(json.dumps({"database": "concert_singer", "question": "How many singers?"}))
        stages = []
        while True:
            message = json.loads(ws.recv(timeout=30))
            if "answer" in message:
                break
            stages.append(message["stage"])
    assert stages == ["linking", "generating", "validating", "correcting", "validating", "executing", "done"]
    assert message["answer"]["rows"] == [[12]]


def test_bearer_token_is_required_when_set_and_off_loopback(scripted: list[Scripted], tmp_path: Path) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = scripted_answers(["SELECT count(*) FROM singer"])
    scripted.append(server)
    with ask_server(tmp_path, server.url, token=TOKEN) as url:
        body = {"database": "concert_singer", "question": "How many?"}
        assert post(f"{url}/api/ask", body)[0] == 401
        assert post(f"{url}/api/ask", body, token="wrong")[0] == 401
        status, answer = post(f"{url}/api/ask", body, token=TOKEN)
        assert status == 200 and answer["rows"] == [[12]]
        with connect(url.replace("http", "ws") + "/api/ask/stream") as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 4401
    env = {k: v for k, v in os.environ.items() if k != "NL2SQL_ASK_TOKEN"}
    refused = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.ask_app", "--host", "0.0.0.0", "--endpoint",
                              server.url, "--model", "m"], env={**env, "PYTHONPATH": str(REPO)}, cwd=REPO,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "NL2SQL_ASK_TOKEN is not set" in refused.stderr


def test_page_in_chromium_asks_shows_rows_and_feedback_becomes_training_data(scripted: list[Scripted],
                                                                             tmp_path: Path) -> None:
    _need_browser()
    from playwright.sync_api import sync_playwright

    server = scripted_answers(["```sql\nSELECT name, age FROM singer ORDER BY age DESC LIMIT 3\n```"])
    scripted.append(server)
    with ask_server(tmp_path, server.url) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                     "--disable-background-networking"])
        page = browser.new_page()
        page.goto(url + "/", wait_until="networkidle")
        page.fill("#question", "Who are the three oldest singers?")
        page.click("#ask")
        page.wait_for_selector("#result-table tbody tr", timeout=30_000)
        assert page.locator("#result-table tbody tr").count() == 3
        assert page.locator("#result-table tbody tr").first.locator("td").first.inner_text() == "Joe Sharp"
        assert "ORDER BY age DESC LIMIT 3" in page.inner_text("#sql")
        assert page.locator("#stages span[data-stage=executing]").count() == 1
        page.click("#fb-correct")
        page.wait_for_selector("text=recorded as correct", timeout=10_000)
        page.click("text=Send corrected SQL")
        page.fill("#corrected", "SELECT name, age FROM singer ORDER BY age DESC, name LIMIT 3")
        page.click("#fb-corrected")
        page.wait_for_selector("text=recorded as corrected", timeout=10_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "ask_page.png"), full_page=True)
        browser.close()
    verdicts = [json.loads(line)["verdict"] for line in feedback_path("concert_singer").read_text().splitlines()]
    assert verdicts == ["correct", "corrected"]

    from nl2sql_pipeline.defs.data_create import db_metadata, table_cards
    from nl2sql_pipeline.defs.feedback import feedback_pairs
    from nl2sql_pipeline.defs.generation import raw_samples, topic_plan
    from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
    from nl2sql_pipeline.defs.settings import DatabasesResource, LLMResource

    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [{"name": "concert_singer", "demo": "concert_singer",
                                                     "sample_budget": 20}]}))
    result = dg.materialize(
        with_stand_ins([db_metadata, table_cards, feedback_pairs, topic_plan, raw_samples]), partition_key="concert_singer",
        resources={"databases": DatabasesResource(config_path=str(config)), "llm": LLMResource(),
                   "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))},
    )
    assert result.success
    pairs = result.output_for_node("feedback_pairs")
    # the corrected SQL replaced the confirmed one: one vouched pair, the user's
    assert pairs.events == 2 and [s.sql for s in pairs.accepted] == [
        "SELECT name, age FROM singer ORDER BY age DESC, name LIMIT 3"]
    raw = result.output_for_node("raw_samples")
    assert raw.samples[0].source == "feedback" and raw.samples[0].question == "Who are the three oldest singers?"
    candidates = feedback_path("concert_singer").with_suffix(".golden_candidates.jsonl").read_text().splitlines()
    assert json.loads(candidates[0])["sql"] == pairs.accepted[0].sql

    # a person promotes the candidate into the golden set: from then on it scores, it never trains
    from nl2sql_pipeline.core.config import nl2sql_home
    from nl2sql_pipeline.core.evaluation.golden import GoldenItem, promote

    item = json.loads(candidates[0])
    promote([GoldenItem(database="concert_singer", **item)], nl2sql_home() / "golden")
    again = dg.materialize(
        with_stand_ins([db_metadata, table_cards, feedback_pairs, topic_plan, raw_samples]), partition_key="concert_singer",
        resources={"databases": DatabasesResource(config_path=str(config)), "llm": LLMResource(),
                   "json_io_manager": PydanticJsonIOManager(base_dir=str(tmp_path / "assets"))},
    )
    assert again.success
    assert again.output_for_node("feedback_pairs").held_out == ["Who are the three oldest singers?"]
    assert not [s for s in again.output_for_node("raw_samples").samples if s.source == "feedback"]
