"""extract_sql on a corpus of messy model outputs (fences, prose in Chinese and English, <think>)."""

from __future__ import annotations

import pytest
import yaml

from nl2sql_pipeline.core.evaluation.extract import extract_sql
from nl2sql_pipeline_tests.conftest import DATA, SPIDER_DE

CORPUS = yaml.safe_load((DATA / "extract_sql_corpus.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", CORPUS, ids=[c["output"][:30] for c in CORPUS])
def test_corpus(case: dict) -> None:
    assert extract_sql(case["output"]) == case["sql"]


def test_plain_spider_gold_is_unchanged_but_for_semicolons() -> None:
    for line in (SPIDER_DE / "dev_gold.sql").read_text("utf-8").splitlines():
        sql = line.rsplit("\t", 1)[0]
        assert extract_sql(sql) == sql.strip().rstrip(";").strip()
