"""The one SQL template: the synthesizer (a new template per kept query) and the validator (dedup,
split, export) compute it with the same function, so they cannot disagree about a duplicate."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlglot

from nl2sql_pipeline.core.cards import build_cards
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import executor_for, parse_query
from nl2sql_pipeline.core.planning import plan_topics
from nl2sql_pipeline.core.schema.catalog import read_schema
from nl2sql_pipeline.core.sql_template import sql_template
from nl2sql_pipeline.core.synthesis import synthesize
from nl2sql_pipeline.demo import DESCRIPTIONS

# Pairs the synthesizer's former regex key and the validator's template judged differently:
# (dialect, a, b, one template?). The regex ids say what it got wrong.
DISAGREED = {
    "regex merged IN lists of any length": ("sqlite", "SELECT a FROM t WHERE x IN (1, 2)", "SELECT a FROM t WHERE x IN (1, 2, 3)", False),
    "regex lower-cased quoted names": ("postgres", 'SELECT "Name" FROM t', 'SELECT "name" FROM t', False),
    "regex masked digits inside names": ("sqlite", 'SELECT "col 1" FROM t', 'SELECT "col 2" FROM t', False),
    "regex merged function arities": ("sqlite", "SELECT substr(a, 1) FROM t", "SELECT substr(a, 1, 3) FROM t", False),
    "regex merged select lists": ("sqlite", "SELECT 1, 2 FROM t", "SELECT 1 FROM t", False),
    "regex dropped the sign": ("sqlite", "SELECT a FROM t WHERE b > -5", "SELECT a FROM t WHERE b > 5", False),
    "regex kept exponents": ("sqlite", "SELECT a FROM t WHERE b = 1e-05", "SELECT a FROM t WHERE b = 2e-05", True),
    "regex kept leading-dot numbers": ("sqlite", "SELECT a FROM t WHERE b = .5", "SELECT a FROM t WHERE b = .25", True),
    "regex kept double-quoted strings": ("mysql", 'SELECT a FROM t WHERE b = "x"', 'SELECT a FROM t WHERE b = "y"', True),
    "regex kept comments": ("sqlite", "SELECT a FROM t -- x\n", "SELECT a FROM t /* y */", True),
    "regex kept spacing and case": ("sqlite", "SELECT a FROM t WHERE b = 'x'", "select A from T where B='y'", True),
}
# The synthesizer's `rows_only` key (sort direction masked where it cannot change the rows).
ROWS_ONLY = {
    "no LIMIT: one question": ("SELECT a FROM t ORDER BY b DESC", "SELECT a FROM t ORDER BY b", True),
    "LIMIT: the direction picks the rows": ("SELECT a FROM t ORDER BY b DESC LIMIT 1", "SELECT a FROM t ORDER BY b LIMIT 1", False),
    # the regex kept every direction once LIMIT appeared anywhere, and masked a window's
    "a subquery's LIMIT leaves the outer ORDER BY free": (
        "SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY c DESC LIMIT 3) ORDER BY a DESC",
        "SELECT a FROM t WHERE b IN (SELECT b FROM u ORDER BY c DESC LIMIT 3) ORDER BY a", True),
    "a window's ORDER BY decides values": (
        "SELECT ROW_NUMBER() OVER (ORDER BY b DESC) FROM t", "SELECT ROW_NUMBER() OVER (ORDER BY b) FROM t", False),
    "TOP is a limit": ("SELECT TOP 1 a FROM t ORDER BY b DESC", "SELECT TOP 1 a FROM t ORDER BY b", False),
}


def _template(sql: str, dialect: str, **kw: bool) -> str:
    return sql_template(sqlglot.parse_one(sql, read=dialect), dialect, **kw)


@pytest.mark.parametrize("case", sorted(DISAGREED))
def test_pairs_the_two_definitions_disagreed_on(case: str) -> None:
    dialect, a, b, same = DISAGREED[case]
    assert (_template(a, dialect) == _template(b, dialect)) is same
    # rows_only only adds the sort rule: it never merges what the template tells apart otherwise
    assert (_template(a, dialect, rows_only=True) == _template(b, dialect, rows_only=True)) is same


@pytest.mark.parametrize("case", sorted(ROWS_ONLY))
def test_sort_direction_counts_only_where_it_changes_the_rows(case: str) -> None:
    a, b, same = ROWS_ONLY[case]
    dialect = "tsql" if "TOP" in a else "sqlite"
    assert _template(a, dialect) != _template(b, dialect)
    assert (_template(a, dialect, rows_only=True) == _template(b, dialect, rows_only=True)) is same


def test_the_template_leaves_the_tree_as_it_was() -> None:
    tree = sqlglot.parse_one("SELECT a FROM t WHERE b = 3 ORDER BY a DESC")
    before = tree.sql()
    assert _template(before, "sqlite", rows_only=True) == "SELECT a FROM t WHERE b = ? ORDER BY a"
    sql_template(tree, "sqlite", rows_only=True)
    assert tree.sql() == before


def test_rows_only_stays_linear() -> None:
    """10,000 ordered UNION branches, as in the parser stress test (which times the literal masking)."""
    union = sqlglot.parse_one(" UNION ALL ".join(["SELECT a FROM t ORDER BY a DESC LIMIT 1"] * 10_000))
    started = time.perf_counter()
    assert sql_template(union, "sqlite", rows_only=True).count("DESC") == 10_000
    assert time.perf_counter() - started < 20  # linear takes about a second


def test_no_two_synthesized_pairs_share_a_validator_template(demo_dir: Path) -> None:
    """Before dedup: what the synthesizer keeps, the validator's template tells apart."""
    for name in ("concert_singer", "sales_cn"):
        db = DatabaseConfig(name=name, url=f"sqlite:///{demo_dir / f'{name}.sqlite'}", descriptions=DESCRIPTIONS.get(name))
        meta = read_schema(db)
        raw = synthesize(plan_topics(build_cards(meta), 150, db.planning), meta, executor_for(db), db)
        templates = [sql_template(parse_query(s.sql, meta.dialect)[0], meta.dialect) for s in raw.samples]
        assert len(raw.samples) >= 100 and len(set(templates)) == len(templates)
