"""Resume: a generation run killed with SIGKILL midway loses only the requests in flight; the
next run reuses every cached answer and asks only for the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from nl2sql_pipeline.core.llm.cache import ResponseCache
from nl2sql_pipeline_tests.conftest import REPO

RUN = textwrap.dedent("""
    import json, sys
    from nl2sql_pipeline.core.cards import build_cards
    from nl2sql_pipeline.core.config import parse_databases
    from nl2sql_pipeline.core.execution import executor_for
    from nl2sql_pipeline.core.llm import LLMClient, LLMSettings
    from nl2sql_pipeline.core.llm.generator import generate_with_llm, synthesized_by, validated_by
    from nl2sql_pipeline.core.planning import plan_topics
    from nl2sql_pipeline.core.schema.catalog import read_schema

    url, model, out = sys.argv[1:4]
    db = parse_databases({"databases": [{"name": "sales_cn", "demo": "sales_cn", "sample_budget": 24,
                                         "generator": "llm"}]}).databases[0]
    meta = read_schema(db)
    cards = build_cards(meta)
    plan = plan_topics(cards, db.sample_budget, db.planning)
    client = LLMClient(LLMSettings(base_url=url, model=model, max_tokens=24, timeout_s=120, concurrency=1,
                                   generator={"batch_size": 2, "topup_rounds": 1}))
    ex = executor_for(db)
    raw = generate_with_llm(plan, cards, db, client, accept=validated_by(meta, ex),
                            synthesize=synthesized_by(meta, ex, db))
    with open(out, "w") as f:
        json.dump({"stats": client.stats.as_dict(), "samples": [s.model_dump() for s in raw.samples]}, f)
""")


def run(script: Path, args: list[str], home: Path) -> subprocess.Popen:
    env = {**os.environ, "NL2SQL_HOME": str(home), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), *args], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_generation_resumes_from_the_cache(openai_server: str, tiny_model: Path, tmp_path: Path) -> None:
    script = tmp_path / "generate.py"
    script.write_text(RUN)
    home = tmp_path / "home"
    cache = ResponseCache(home / "llm_cache")
    first = run(script, [openai_server, str(tiny_model), str(tmp_path / "first.json")], home)
    deadline = time.monotonic() + 300
    while len(cache) < 4 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL, "the run finished before it could be killed midway"
    finished = len(cache)
    assert finished >= 4 and not (tmp_path / "first.json").exists()

    second = run(script, [openai_server, str(tiny_model), str(tmp_path / "second.json")], home)
    assert second.wait(timeout=600) == 0, second.stderr.read().decode()[-3000:]
    stats = json.loads((tmp_path / "second.json").read_text())["stats"]
    total = len(cache)
    assert total > finished  # the killed run had more to do
    assert stats["cache_hits"] == finished  # every answer received before the kill was reused
    assert stats["requests"] == total - finished and stats["retries"] == 0  # nothing asked twice

    third = run(script, [openai_server, str(tiny_model), str(tmp_path / "third.json")], home)
    assert third.wait(timeout=600) == 0
    again = json.loads((tmp_path / "third.json").read_text())
    assert again["stats"]["requests"] == 0 and again["stats"]["cache_hits"] == total
    assert again["samples"] == json.loads((tmp_path / "second.json").read_text())["samples"]
