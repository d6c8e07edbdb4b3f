"""`nl2sql-link` end to end: a Spider folder of SQLite files, and a configured PostgreSQL database
with real COMMENTs (the warehouse schema), run as the console script's module."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from nl2sql_pipeline_tests.conftest import SPIDER_DE
from nl2sql_pipeline_tests.linking_support import QUESTIONS, build_wms


def _link(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nl2sql_pipeline.core.linking.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def _figure(output: str, label: str) -> float:
    line = next(line for line in output.splitlines() if label in line)
    return float(line.split(label, 1)[1].split("%")[0].strip(" :")) / 100


def test_spider_folder_of_sqlite_files(tmp_path: Path) -> None:
    rows = json.loads((SPIDER_DE / "dev.json").read_text(encoding="utf-8"))
    chosen = [r for r in rows if r["db_id"] in ("concert_singer", "pets_1", "student_transcripts_tracking")]
    questions = tmp_path / "dev.json"
    questions.write_text(json.dumps(chosen, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "picks.jsonl"
    proc = _link("--questions", str(questions), "--db", str(SPIDER_DE / "database"), "--max-tables", "4",
                 "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert f"questions: {len(chosen)}" in proc.stdout and "latency per question: p50" in proc.stdout
    assert _figure(proc.stdout, "gold-table recall (all gold tables chosen)") >= 0.9
    picks = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [p["index"] for p in picks] == list(range(len(chosen)))
    assert all(set(p) == {"index", "db_id", "tables"} and 1 <= len(p["tables"]) <= 4 for p in picks)
    assert {p["db_id"] for p in picks} == {"concert_singer", "pets_1", "student_transcripts_tracking"}
    assert any("sänger" in p["tables"] for p in picks)  # names as the schema spells them

    missing = _link("--questions", str(questions), "--db", str(tmp_path))
    assert missing.returncode == 2 and "No SQLite file for database 'concert_singer'" in missing.stderr


def test_configured_postgresql_database(pg_db: str, tmp_path: Path) -> None:
    build_wms(pg_db)  # PostgreSQL keeps the Chinese COMMENTs: no descriptions file needed
    config = tmp_path / "databases.yaml"
    config.write_text(yaml.safe_dump({"databases": [
        {"name": "wms", "url_env": "WMS_TEST_URL", "synthesis": {"no_sample": ["customer"]}}]}), encoding="utf-8")
    questions = tmp_path / "dev.json"
    questions.write_text(json.dumps([{"db_id": "wms", "question": q, "query": s} for q, s in QUESTIONS],
                                    ensure_ascii=False), encoding="utf-8")
    env = {"WMS_TEST_URL": pg_db}
    proc = _link("--questions", str(questions), "--config", str(config), "--database", "wms", "--budget-tokens", "400",
                 "--out", str(tmp_path / "picks.jsonl"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert _figure(proc.stdout, "gold-table recall (all gold tables chosen)") >= 0.9
    assert "whole schema shown: 0.0%" in proc.stdout  # the budget forced a selection for every question
    picks = [json.loads(line) for line in (tmp_path / "picks.jsonl").read_text(encoding="utf-8").splitlines()]
    assert "warehouse" in picks[0]["tables"] and "carrier" in picks[2]["tables"]

    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"db_id": "sales", "question": "x", "query": "SELECT 1"}]), encoding="utf-8")
    bad = _link("--questions", str(other), "--config", str(config), "--database", "wms", env=env)
    assert bad.returncode == 2 and "questions for other databases (sales)" in bad.stderr
    unnamed = _link("--questions", str(questions), "--config", str(config), env=env)
    assert unnamed.returncode == 2 and "--config needs --database NAME" in unnamed.stderr
