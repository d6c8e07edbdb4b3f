"""extract_sql on a corpus of messy model outputs (fences, prose in Chinese and English, <think>)."""

from __future__ import annotations

import pytest
import yaml

from nl2sql_pipeline.core.evaluation.extract import extract, extract_sql
from nl2sql_pipeline.core.execution import parse_query
from nl2sql_pipeline_tests.conftest import DATA, SPIDER_DE

CORPUS = yaml.safe_load((DATA / "extract_sql_corpus.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", CORPUS, ids=[c["output"][:30] for c in CORPUS])
def test_corpus(case: dict) -> None:
    assert extract_sql(case["output"]) == case["sql"]


GOLD_SQL = [line.rsplit("\t", 1)[0] for line in (SPIDER_DE / "dev_gold.sql").read_text("utf-8").splitlines()]


def test_plain_spider_gold_is_unchanged_but_for_semicolons() -> None:
    assert len(GOLD_SQL) == 1030
    changed = {sql: got for sql in GOLD_SQL if (got := extract_sql(sql)) != sql.strip().rstrip(";").strip()}
    assert changed == {}  # every query that changed, not only the first


UNSAFE = yaml.safe_load((DATA / "unsafe_sql_corpus.yaml").read_text("utf-8"))


def test_unsafe_corpus_has_thirty_shapes() -> None:
    assert len(UNSAFE) >= 30


@pytest.mark.parametrize("case", UNSAFE, ids=[c["output"][:40] for c in UNSAFE])
def test_a_statement_that_writes_or_defines_is_never_rescued(case: dict) -> None:
    found = extract(case["output"])
    assert found.unsafe is not None and case["reason"].lower() in found.unsafe.lower()
    # what comes back is the offending statement, never the query inside it
    assert parse_query(found.sql, "sqlite")[1].kind == "rejected" or found.sql.upper().startswith(("CREATE", "MERGE"))


@pytest.mark.parametrize("case", CORPUS, ids=[c["output"][:30] for c in CORPUS])
def test_clean_outputs_are_not_unsafe(case: dict) -> None:
    assert extract(case["output"]).unsafe is None


@pytest.mark.parametrize(
    "output",
    [
        "This query does not update or delete anything:\nSELECT name FROM singer",
        "SELECT update_time, \"delete from\" FROM log WHERE note = 'DROP TABLE x; PRAGMA y'",
        "SELECT name FROM singer -- then DROP TABLE singer\nWHERE age > 3",
        "```sql\nSELECT 1\n```\nNote: never run DELETE FROM singer on production.",
        "SELECT alter FROM sänger ORDER BY alter",  # spider-de names a column `alter`
        "SELECT replace(name, 'a', 'b'), insert_date FROM t",
        "You can execute this query:\nSELECT name FROM singer",  # prose before the SQL names a write
        "Here is the query to look into the singers:\nSELECT name FROM singer",
        "I will not insert anything. SELECT count(*) FROM singer",
        "Let me update the list.\n```sql\nSELECT name FROM singer\n```",
        "我们先grant一下思路：\nSELECT name FROM singer",
    ],
)
def test_prose_and_names_that_mention_writes_stay_queries(output: str) -> None:
    assert extract(output).unsafe is None


def test_no_spider_gold_query_reads_as_unsafe() -> None:
    assert len(GOLD_SQL) == 1030
    assert {sql: found.unsafe for sql in GOLD_SQL if (found := extract(sql)).unsafe is not None} == {}
