"""Spider hardness on sqlglot agrees with Spider's official evaluation.py on every dev query."""

from __future__ import annotations

import pytest
from sqlglot.errors import SqlglotError

from nl2sql_pipeline.core.hardness import HardnessError, hardness_counts, parse_leniently, spider_hardness
from nl2sql_pipeline_tests.conftest import DATA, SPIDER_DE

# Levels computed by Spider's official evaluation.py (test-suite-sql-eval, Evaluator.eval_hardness
# on process_sql.get_sql with each database's schema) for the 1030 lines of spider_de/dev_gold.sql.
# Distribution 248 easy / 446 medium / 174 hard / 162 extra, Spider dev's published mix less 4 extra.
OFFICIAL = (DATA / "spider_de_hardness.txt").read_text().split()


def test_agrees_with_official_script_on_all_spider_de_dev_queries() -> None:
    gold = [line.rsplit("\t", 1)[0] for line in (SPIDER_DE / "dev_gold.sql").read_text("utf-8").splitlines()]
    assert len(gold) == len(OFFICIAL) == 1030
    ours = [spider_hardness(sql) for sql in gold]
    wrong = [(i, sql, OFFICIAL[i], ours[i]) for i, sql in enumerate(gold) if ours[i] != OFFICIAL[i]]
    assert wrong == []


CASES = [
    # (sql, component1, component2, others, level)
    ("SELECT count(*) FROM singer", 0, 0, 0, "easy"),
    ("SELECT DISTINCT country FROM singer WHERE age > 20", 1, 0, 0, "easy"),
    ("SELECT name, country, age FROM singer ORDER BY age DESC", 1, 0, 1, "medium"),
    ("SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'", 1, 0, 2, "medium"),
    ("SELECT name FROM singer WHERE age > (SELECT avg(age) FROM singer)", 1, 1, 0, "hard"),
    ("SELECT country FROM singer WHERE age > 40 INTERSECT SELECT country FROM singer WHERE age < 30", 1, 1, 0, "hard"),
    # A chain of set operations is nested in Spider's parse: the top level holds only one.
    ("SELECT a FROM t UNION SELECT b FROM s UNION SELECT c FROM u", 0, 1, 0, "hard"),
    # ORDER BY/LIMIT after a set operation belong to the last query, not the first.
    ("SELECT a FROM t UNION SELECT b FROM s ORDER BY 1 LIMIT 3", 0, 1, 0, "hard"),
    (
        "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id "
        "WHERE T1.year = 2014 INTERSECT SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 "
        "ON T1.stadium_id = T2.stadium_id WHERE T1.year = 2015",
        2, 1, 0, "extra",
    ),
    ("SELECT name FROM t WHERE a = 1 OR a = 2", 2, 0, 1, "medium"),
    ("SELECT name FROM t WHERE name LIKE '%x%'", 2, 0, 0, "medium"),
    # Spider's quirk: NOT IN counts as an aggregate (plus here the avg in the select list).
    ("SELECT avg(age) FROM s WHERE id NOT IN (SELECT id FROM p)", 1, 1, 1, "extra"),
    # Spider's quirk: every AND/OR between HAVING conditions counts as an aggregate.
    ("SELECT a FROM t GROUP BY a HAVING count(*) > 1 AND sum(b) > 2", 1, 0, 0, "easy"),
    ("SELECT a, count(*) FROM t GROUP BY a HAVING count(*) > 1 AND sum(b) > 2", 1, 0, 2, "medium"),
    # Aggregates in ORDER BY count; a derived table is a table unit, not a nested query.
    ("SELECT a FROM t GROUP BY a ORDER BY count(*) DESC LIMIT 1", 3, 0, 0, "hard"),
    ("SELECT x FROM (SELECT a AS x FROM t) JOIN s ON s.id = x", 1, 0, 0, "easy"),
    ("SELECT a FROM t WHERE b BETWEEN 1 AND 5 AND c IS NOT NULL", 1, 0, 1, "medium"),
    # Outside Spider's subset: a CTE and a select-list subquery count as nested queries.
    ("WITH x AS (SELECT a FROM t) SELECT a FROM x", 0, 1, 0, "hard"),
    ("SELECT a, (SELECT max(b) FROM s) FROM t", 0, 1, 1, "extra"),
]


@pytest.mark.parametrize(("sql", "c1", "c2", "oth", "level"), CASES)
def test_counts_and_level(sql: str, c1: int, c2: int, oth: int, level: str) -> None:
    counts = hardness_counts(parse_leniently(sql))
    assert (counts.component1, counts.component2, counts.others) == (c1, c2, oth)
    assert spider_hardness(sql) == level


def test_other_dialects() -> None:
    assert spider_hardness("SELECT `name` FROM `t` ORDER BY `age` LIMIT 1", dialect="mysql") == "medium"
    assert spider_hardness('SELECT "Name" FROM "T" WHERE "x" ILIKE \'a%\'', dialect="postgres") == "easy"


def test_statement_keyword_as_column_name() -> None:
    assert spider_hardness("SELECT name FROM lehrer ORDER BY alter ASC") == "easy"
    with pytest.raises(HardnessError, match="queries only.*Fix: pass a SELECT"):
        spider_hardness("ALTER TABLE t ADD COLUMN x INT")


def test_unparsable_sql_names_cause_and_fix() -> None:
    with pytest.raises(HardnessError, match="Cannot parse SQL.*Fix: pass valid sqlite SQL"):
        spider_hardness("SELECT FROM WHERE (")


@pytest.mark.parametrize("sql", ["SELECT " + "(" * 5000 + "1" + ")" * 5000, "SELECT " + "(SELECT " * 300 + "1" + ")" * 300,
                                 "SELECT 1 WHERE 1 IN (" + ",".join(["1"] * 5000) + ")"])
def test_labels_refuse_what_would_crash_the_parser(sql: str) -> None:
    """Labels read untrusted text too (a gold file, a model's output): beyond the gate's
    parser-safe limits the lenient parse refuses before sqlglot's recursive parser sees it."""
    with pytest.raises(SqlglotError, match="limit"):
        parse_leniently(sql, "sqlite")
    with pytest.raises(HardnessError):
        spider_hardness(sql)
