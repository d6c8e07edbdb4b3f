"""GRPO rewards: the evaluation's verdicts on real databases, dense and format parts, caching,
and hostile rollouts that earn nothing and change nothing (SQLite file and PostgreSQL checksums)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.inputs import prediction_set, read_gold, spider_db_path
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.core.training.rewards import (
    Rollout,
    RewardSettings,
    RewardWeights,
    SqlRewarder,
    format_score,
)
from nl2sql_pipeline.demo import load_demo
from nl2sql_pipeline_tests.conftest import SPIDER_DE
from nl2sql_pipeline_tests.core.execution.test_execution import checksum, hostile_cases, sqlite_copy  # noqa: F401 (a fixture)

OFFICIAL = SPIDER_DE.parent / "spider_de_official"
ALL = RewardWeights(execution=1, table_overlap=0.2, column_overlap=0.2, syntax=0.1, format=0.1)


def spider_targets(db_ids: set[str]) -> dict[str, DatabaseTarget]:
    return {db: DatabaseTarget(url=sqlite_url(spider_db_path(SPIDER_DE / "database", db), read_only=True)
                               .render_as_string(), dialect="sqlite") for db in db_ids}


def _decorated(preds: list[str]) -> list[str]:
    """The fixture's predictions as a model writes them: fenced, explained, thinking, or broken."""
    shapes = ["{}", "```sql\n{};\n```", "Here is the query:\n{}\n\nIt counts what you asked.", "<think>ok</think>{}",
              "{}; DELETE FROM x", "DROP TABLE {}", "", "SELECT FROM WHERE {}"]
    return [shapes[i % len(shapes)].format(p) for i, p in enumerate(preds)]


@pytest.mark.parametrize("strip", [True, False], ids=["strip-distinct", "keep-distinct"])
def test_execution_verdicts_equal_the_evaluations(strip: bool) -> None:
    gold = read_gold(OFFICIAL / "gold.sql")
    outputs = _decorated((OFFICIAL / "pred.txt").read_text("utf-8").splitlines())
    targets = spider_targets({g.database for g in gold})
    runs = PredictionRuns(runs=[prediction_set(gold, outputs, label="x", model="m", source="test")])
    verdicts = evaluate_runs(runs, targets, EvalOptions(strip_distinct=strip, workers=1, timeout_s=2))["x"]
    settings = RewardSettings(strip_distinct=strip, weights=ALL, row_cap=100_000)
    with SqlRewarder(targets, settings) as rewarder:
        scores = rewarder.score([Rollout(database=g.database, gold_sql=g.gold_sql, completion=o)
                                 for g, o in zip(gold, outputs)])
    assert [s.match for s in scores] == [v.match for v in verdicts]
    assert [s.executed for s in scores] == [v.executed for v in verdicts]
    assert [s.pred_sql for s in scores] == [v.pred_sql for v in verdicts]
    assert [s.execution for s in scores] == [0.0 if s.hostile else 1.0 if v.match else 0.1 if v.executed else 0.0
                                             for s, v in zip(scores, verdicts)]
    assert 300 < sum(s.match for s in scores) < len(scores)  # the fixture has both kinds
    refused = [s for s, o in zip(scores, outputs) if "DELETE" in o or o.startswith("DROP")]
    assert refused and all(s.total == 0 and s.hostile for s in refused)
    assert not any(s.hostile for s, o in zip(scores, outputs) if s not in refused and "DELETE" not in o)


def test_credit_weights_and_components_on_a_company_schema(sqlite_copy: Path) -> None:
    targets = {"sales": DatabaseTarget(url=sqlite_url(sqlite_copy, read_only=True).render_as_string(), dialect="sqlite")}
    gold = "SELECT c.city, count(*) FROM orders AS o JOIN customers AS c ON o.customer_id = c.customer_id GROUP BY c.city"
    settings = RewardSettings(weights=ALL, execution={"match": 1.0, "executes": 0.25, "fails": 0.05})
    cases = {
        "match": f"```sql\n{gold}\n```",
        "same result, columns swapped": gold.replace("c.city, count(*)", "count(*), c.city"),
        "runs, wrong": "SELECT city FROM customers",
        "runtime error": "SELECT no_such_column FROM orders",
        "syntax error": "SELECT FROM WHERE",
        "prose around": f"我先解释一下：\n{gold}\n这条语句按城市统计订单。",
        "two statements": f"{gold}; SELECT 1",
        "then a write": f"{gold};\nDELETE FROM orders",
        "write first": f"UPDATE customers SET city = 'x';\n{gold}",
        "file function after": f"{gold}\n\nSELECT writefile('/tmp/x', 'y')",
        "endless": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    }
    with SqlRewarder(targets, settings.model_copy(update={"timeout_s": 0.3})) as rewarder:
        got = dict(zip(cases, rewarder.score([Rollout(database="sales", gold_sql=gold, completion=c)
                                               for c in cases.values()])))
    assert got["match"].execution == 1.0 and got["match"].format == 1.0 and got["match"].table_overlap == 1.0
    assert got["match"].total == pytest.approx(1 + 0.2 + 0.2 + 0.1 + 0.1)
    assert got["same result, columns swapped"].match  # test-suite semantics: columns may be permuted
    wrong = got["runs, wrong"]
    assert (wrong.execution, wrong.syntax, wrong.format) == (0.25, 1.0, 1.0)
    assert wrong.table_overlap == pytest.approx(2 * 1 / 3) and 0 < wrong.column_overlap < 1
    assert (got["runtime error"].execution, got["runtime error"].syntax) == (0.05, 1.0)
    assert (got["syntax error"].execution, got["syntax error"].syntax, got["syntax error"].total) == (0.05, 0.0, 0.05)
    assert got["prose around"].match and got["prose around"].format == 0.0  # evaluation extracts it; no format credit
    assert got["two statements"].match and got["two statements"].format == 0.0 and not got["two statements"].hostile
    assert got["then a write"].hostile and got["then a write"].total == 0.0  # whatever the extraction picks
    assert got["write first"].hostile and got["write first"].total == 0.0
    assert got["file function after"].hostile
    assert got["endless"].error_kind == "timeout" and got["endless"].total == 0.0


@pytest.mark.parametrize(("completion", "expected"), [
    ("SELECT 1", 1.0), ("SELECT 1;", 1.0), ("```sql\nSELECT a FROM t\n```", 1.0), ("<think>\n\n</think>\n\nSELECT 1", 1.0),
    ("SQL: SELECT 1", 0.0), ("SELECT 1; SELECT 2", 0.0), ("SELECT 1\n\nThis returns one.", 0.0), ("", 0.0),
    ("DELETE FROM t", 0.0), ("```sql\nSELECT 1\n```\nDone.", 0.0), ("<think>hmm</think>SELECT 1", 0.0),
])
def test_format_reward_wants_exactly_one_query(completion: str, expected: float) -> None:
    assert format_score(completion, "sqlite") == expected


def test_repeated_rollouts_run_once_and_trl_functions_share_one_scoring() -> None:
    targets = spider_targets({"concert_singer"})
    gold = "SELECT count(*) FROM sänger"
    rollouts = [Rollout(database="concert_singer", gold_sql=gold, completion=c)
                for c in ["SELECT count(*) FROM sänger", "SELECT count(*) FROM sänger", "SELECT name FROM sänger"] * 4]
    settings = RewardSettings(weights=RewardWeights(execution=1.0, format=0.5))
    with SqlRewarder(targets, settings) as rewarder:
        funcs, weights = rewarder.reward_functions()
        assert [f.__name__ for f in funcs] == ["execution", "format"] and weights == [1.0, 0.5]
        completions = [[{"role": "assistant", "content": r.completion}] for r in rollouts]  # TRL's chat shape
        columns = {"database": [r.database for r in rollouts], "gold_sql": [r.gold_sql for r in rollouts]}
        execution = funcs[0](prompts=[None] * 12, completions=completions, completion_ids=None, trainer_state=None, **columns)
        fmt = funcs[1](prompts=[None] * 12, completions=completions, completion_ids=None, **columns)
        assert execution == [1.0, 1.0, 0.1] * 4 and fmt == [1.0] * 12
        assert rewarder.stats["queries_run"] == 2  # the gold (== the first rollout) and the other query
        rewarder.score(rollouts)  # the next epoch: everything cached
        assert rewarder.stats["queries_run"] == 2
        with pytest.raises(KeyError, match="no database target for nowhere"):
            rewarder.score([Rollout(database="nowhere", gold_sql=gold, completion=gold)])


def test_every_rollout_query_is_in_the_audit_file(tmp_path: Path) -> None:
    from nl2sql_pipeline.core.audit import AuditTarget, read_audit

    audit = AuditTarget(path=str(tmp_path / "audit" / "run.jsonl"), purpose="rewards", run_id="run")
    gold = "SELECT count(*) FROM sänger"
    rollouts = [Rollout(database="concert_singer", gold_sql=gold, completion=c)
                for c in [gold, "SELECT name FROM sänger", "SELECT name FROM sänger"]]
    with SqlRewarder(spider_targets({"concert_singer"}), RewardSettings(), audit) as rewarder:
        rewarder.score(rollouts)
    records = read_audit(Path(audit.path))
    assert sorted(r["sql"] for r in records) == sorted([gold, "SELECT name FROM sänger"])  # cached ones run once
    assert {(r["purpose"], r["database"]) for r in records} == {("rewards", "concert_singer")}


def test_reward_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="every reward weight is 0"):
        RewardWeights(execution=0)
    with pytest.raises(ValueError, match="match >= executes >= fails"):
        RewardSettings(execution={"match": 0.1, "executes": 0.5})


def _hostile_rollouts(scratch: Path, gold: str, database: str) -> list[Rollout]:
    # Each hostile statement as a model might emit it: bare, fenced, and after a harmless query.
    shapes = ["{}", "```sql\n{}\n```", "SELECT 1; {}", "Sure:\n{}"]
    return [Rollout(database=database, gold_sql=gold, completion=shape.format(sql))
            for sql in hostile_cases(scratch) for shape in shapes]


def test_hostile_rollouts_earn_nothing_and_leave_the_sqlite_file_untouched(sqlite_copy: Path, tmp_path: Path) -> None:
    path = sqlite_copy
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    files = sorted(p.name for p in tmp_path.rglob("*"))
    targets = {"sales": DatabaseTarget(url=sqlite_url(path, read_only=True).render_as_string(), dialect="sqlite")}
    rollouts = _hostile_rollouts(tmp_path, "SELECT count(*) FROM orders", "sales")
    with SqlRewarder(targets, RewardSettings(weights=ALL)) as rewarder:
        scores = rewarder.score(rollouts)
        assert rewarder.score([Rollout(database="sales", gold_sql="SELECT count(*) FROM orders",
                                       completion="SELECT count(*) FROM orders")])[0].match  # still works
    bad = [(r.completion, s.total, s.error_kind) for r, s in zip(rollouts, scores) if s.total != 0 or not s.hostile]
    assert not bad
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.rglob("*")) == files  # nothing ATTACHed or dumped


def test_hostile_rollouts_leave_a_postgres_database_unchanged(pg_db: str, tmp_path: Path) -> None:
    engine = sa.create_engine(pg_db)
    load_demo(engine, "sales_cn")
    engine.dispose()
    before = checksum(pg_db)
    targets = {"sales": DatabaseTarget(url=pg_db, dialect="postgres")}
    rollouts = _hostile_rollouts(tmp_path, "SELECT count(*) FROM orders", "sales")
    with SqlRewarder(targets, RewardSettings(weights=ALL, workers=3)) as rewarder:
        scores = rewarder.score(rollouts)
    assert all(s.total == 0 for s in scores), [(r.completion, s) for r, s in zip(rollouts, scores) if s.total][:3]
    assert checksum(pg_db) == before
