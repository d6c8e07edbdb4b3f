"""Execution match on spider-de: gold against gold, hand-made perturbations, enforced timeouts."""

from __future__ import annotations

import time

import pytest

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.compare import results_match
from nl2sql_pipeline.core.evaluation.inputs import GoldItem, prediction_set, read_gold, spider_db_path
from nl2sql_pipeline.core.evaluation.report import summarize
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, ItemVerdict, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline_tests.conftest import SPIDER_DE

GOLD = read_gold(SPIDER_DE / "dev_gold.sql")


def targets(db_ids: set[str]) -> dict[str, DatabaseTarget]:
    return {
        db: DatabaseTarget(url=sqlite_url(spider_db_path(SPIDER_DE / "database", db), read_only=True).render_as_string(), dialect="sqlite")
        for db in db_ids
    }


def judge(gold: list[GoldItem], outputs: list[str], **options: object) -> list[ItemVerdict]:
    runs = PredictionRuns(runs=[prediction_set(gold, outputs, label="x", model="m", source="test")])
    return evaluate_runs(runs, targets({g.database for g in gold}), EvalOptions(**options))["x"]


@pytest.mark.parametrize(("workers", "engine_gate"), [(1, True), (2, True), (2, False)])
def test_gold_as_prediction_matches_every_executable_item(workers: int, engine_gate: bool) -> None:
    verdicts = judge(GOLD, [g.gold_sql for g in GOLD], workers=workers, engine_gate=engine_gate)
    runnable = [v for v in verdicts if v.executable]
    assert [v.index for v in verdicts] == list(range(1030))
    assert len(runnable) == 978  # the README's count of gold queries that execute
    assert all(v.match and v.syntax_ok and v.executed and v.pred_error is None for v in runnable)
    metrics = summarize("x", verdicts)
    assert metrics.exec_match == 100.0
    # gold that cannot judge (fails, returns nothing, or ties at its LIMIT) stays out of the headline
    assert metrics.gold_flags == {"fails": 52, "empty": 89, "tie-dependent": 42} and metrics.headline == 847
    assert {h: b.count for h, b in metrics.by_hardness.items()} == {"easy": 222, "medium": 373, "hard": 135, "extra": 117}
    assert 0 < metrics.both_empty_matches < 978  # reported apart: empty results match trivially


ORDERED = GoldItem(database="employee_hire_evaluation", gold_sql="SELECT name , ort , bezirk FROM shop ORDER BY anzahl_produkte DESC")
DUPLICATES = GoldItem(database="cre_doc_template_mgt", gold_sql="SELECT versionsnummer , vorlagentyp_code FROM vorlagen WHERE versionsnummer > 5")
NEVER_ENDS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

# (gold, prediction, {semantics: expected match})
PERTURBATIONS = [
    pytest.param(ORDERED, "SELECT name , ort , bezirk FROM shop", {"test-suite": False, "set": True, "ordered": False}, id="drop-order-by"),
    pytest.param(ORDERED, "SELECT ort , name , bezirk FROM shop ORDER BY anzahl_produkte DESC", {"test-suite": True, "set": False, "ordered": False}, id="swap-columns"),
    pytest.param(DUPLICATES, "SELECT versionsnummer , vorlagentyp_code FROM vorlagen WHERE versionsnummer > 6", {"test-suite": False, "set": False, "ordered": False}, id="change-literal"),
    pytest.param(DUPLICATES, "SELECT DISTINCT versionsnummer , vorlagentyp_code FROM vorlagen WHERE versionsnummer > 5", {"test-suite": False, "set": True, "ordered": False}, id="add-distinct"),
    pytest.param(DUPLICATES, "SELECT vorlagentyp_code , versionsnummer FROM vorlagen WHERE versionsnummer > 5 ORDER BY vorlagentyp_code", {"test-suite": True, "set": False, "ordered": False}, id="reorder-rows-and-columns"),
]


@pytest.mark.parametrize(("gold", "pred", "expected"), PERTURBATIONS)
def test_perturbations_get_each_semantics_verdict(gold: GoldItem, pred: str, expected: dict[str, bool]) -> None:
    for semantics, match in expected.items():
        [verdict] = judge([gold], [pred], semantics=semantics, workers=1)
        assert verdict.executed and verdict.executable
        assert verdict.match is match, semantics


def test_strip_distinct_reproduces_spiders_default() -> None:
    pred = DUPLICATES.gold_sql.replace("SELECT", "SELECT DISTINCT")
    assert not judge([DUPLICATES], [pred], workers=1)[0].match
    assert judge([DUPLICATES], [pred], strip_distinct=True, workers=1)[0].match


def test_a_query_that_never_ends_times_out_and_the_rest_is_judged() -> None:
    gold = [ORDERED, DUPLICATES, ORDERED]
    started = time.perf_counter()
    verdicts = judge(gold, [NEVER_ENDS, DUPLICATES.gold_sql, NEVER_ENDS], timeout_s=0.5, workers=1)
    elapsed = time.perf_counter() - started
    assert [v.pred_error for v in verdicts] == ["timeout", None, "timeout"]
    assert [v.match for v in verdicts] == [False, True, False]
    assert elapsed < 10  # two 0.5 s budgets, not an endless query (a bound, not a benchmark)


def test_failures_are_typed() -> None:
    gold = [DUPLICATES] * 5
    outputs = ["", "SELEC versionsnummer FROM vorlagen", "SELECT nope FROM vorlagen", "DELETE FROM vorlagen", "I do not know."]
    verdicts = judge(gold, outputs, workers=1)
    errors = [v.pred_error for v in verdicts]
    assert errors[0] == "empty" and errors[2] == "runtime" and errors[3] == "unsafe"  # a write is unsafe, never run
    assert errors[1] in ("syntax", "rejected") and errors[4] in ("syntax", "rejected")  # the executor's call
    assert [v.syntax_ok for v in verdicts] == [False, False, True, True, False]
    assert not any(v.match for v in verdicts)


def test_row_cap_truncation_is_a_failure_not_a_match() -> None:
    [verdict] = judge([ORDERED], [ORDERED.gold_sql], row_cap=2, workers=1)
    assert not verdict.executable and not verdict.match and "row_cap" in (verdict.error or "")


def test_both_empty_is_a_match_reported_apart() -> None:
    empty = GoldItem(database=DUPLICATES.database, gold_sql="SELECT versionsnummer FROM vorlagen WHERE versionsnummer > 10000")
    [verdict] = judge([empty], ["SELECT vorlagentyp_code FROM vorlagen WHERE 1 = 0"], workers=1)
    assert verdict.match and verdict.both_empty


def test_unknown_database_makes_the_item_not_executable() -> None:
    runs = PredictionRuns(runs=[prediction_set([GoldItem(database="nowhere", gold_sql="SELECT 1")], ["SELECT 1"], label="x", model="m", source="t")])
    [verdict] = evaluate_runs(runs, {}, EvalOptions(workers=1))["x"]
    assert not verdict.executable and "nowhere" in (verdict.error or "")


@pytest.mark.parametrize(
    ("gold", "pred", "order_matters", "expected"),
    [
        ([(1,), (2,)], [(2,), (1,)], False, True),
        ([(1,), (2,)], [(2,), (1,)], True, False),
        ([(1, "a")], [(1.0, "a")], True, True),  # values as the database returns them
        ([(1,), (1,), (2,)], [(1,), (2,), (2,)], False, False),  # multiset, not set
        ([(1, 2, 3, 4)], [(4, 3, 2, 1)], False, True),  # more than 3 columns: pruned permutations
        ([(1, 2), (3, 4)], [(2, 1), (3, 4)], False, False),  # one permutation for all rows
        ([], [], True, True),
        ([(1,)], [], False, False),
        ([(1, 2)], [(1,)], False, False),
    ],
)
def test_test_suite_semantics(gold: list, pred: list, order_matters: bool, expected: bool) -> None:
    assert results_match(gold, pred, order_matters=order_matters) is expected


OFFICIAL = SPIDER_DE.parent / "spider_de_official"


@pytest.mark.parametrize("engine_gate", [True, False], ids=["sqlite-authorizer", "sqlglot-gate"])
@pytest.mark.parametrize(("strip", "column"), [(True, 0), (False, 1)], ids=["strip-distinct", "keep-distinct"])
def test_per_item_verdicts_equal_spiders_official_evaluation(strip: bool, column: int, engine_gate: bool) -> None:
    """Whichever gate judges the predictions, every verdict is Spider's own."""
    gold = read_gold(OFFICIAL / "gold.sql")
    preds = (OFFICIAL / "pred.txt").read_text("utf-8").splitlines()
    official = [line.split("\t")[column] == "1" for line in (OFFICIAL / "verdicts.tsv").read_text().splitlines()[1:]]
    verdicts = judge(gold, preds, strip_distinct=strip, workers=2, engine_gate=engine_gate)
    assert all(v.executable for v in verdicts)
    assert [v.match for v in verdicts] == official


@pytest.mark.parametrize(
    ("output", "syntax_ok"),
    [
        ("SELECT name FROM shop", True),
        ("DELETE FROM shop", True),  # refused by the executor, but it is SQL
        ("T T", False),  # sqlglot reads it as a column with an alias; an untrained model's noise
        ("shop", False),
        ("SELECT FROM WHERE", False),
    ],
)
def test_syntax_valid_means_a_sql_statement(output: str, syntax_ok: bool) -> None:
    (verdict,) = judge([ORDERED], [output])
    assert verdict.syntax_ok is syntax_ok
    assert not verdict.match
