"""Soft-F1 and R-VES against hand-computed values, gold hygiene on planted bad gold, unsafe outputs
counted per model, and the error taxonomy."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from nl2sql_pipeline.core.connection import sqlite_url
from nl2sql_pipeline.core.evaluation.bird import r_ves, soft_f1, time_ratio, ves_reward
from nl2sql_pipeline.core.evaluation.hygiene import tie_probe
from nl2sql_pipeline.core.evaluation.inputs import GoldItem, prediction_set
from nl2sql_pipeline.core.evaluation.report import failures_markdown, spider_table, summarize
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, ItemVerdict, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionRuns


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ([("a", 1), (3, "b")], [(1, "a"), (2, "b")], 0.75),  # tp 1.5, fp 0.5, fn 0.5
        ([(1, "a")], [(1, "a", 10)], 0.8),  # a missing column costs its share: P 1, R 2/3
        ([(1,), (2,)], [(1,)], 2 / 3),  # an extra row is one false positive
        ([(1,)], [(1,), (1,)], 1.0),  # duplicates dropped first
        ([], [], 1.0),
        ([(1,)], [], 0.0),
        ([], [(1,)], 0.0),
    ],
)
def test_soft_f1_hand_computed(pred: list, gold: list, expected: float) -> None:
    assert soft_f1(pred, gold) == pytest.approx(expected)


def test_r_ves_hand_computed() -> None:
    assert time_ratio([2.0, 2.0, 2.0], [1.0, 1.0, 1.0]) == 2.0  # equal ratios all kept
    # ten ratios of 1 and an outlier of 100: mean 10, sd 28.46, 100 > 10 + 3 sd is dropped
    assert time_ratio([1.0] * 10 + [100.0], [1.0] * 11) == 1.0
    assert [ves_reward(r, True) for r in (2.0, 1.5, 0.7, 0.3, 0.1)] == [1.25, 1.0, 0.75, 0.5, 0.25]
    assert ves_reward(3.0, False) == 0.0
    assert r_ves([1.25, 1.0, 0.5, 0.0]) == pytest.approx((math.sqrt(1.25) + 1 + math.sqrt(0.5)) / 4 * 100)


@pytest.fixture
def shop(tmp_path: Path) -> DatabaseTarget:
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE 订单 (id INTEGER PRIMARY KEY, 客户 TEXT NOT NULL, 金额_元 REAL, 城市 TEXT)")
        conn.executemany("INSERT INTO 订单 VALUES (?, ?, ?, ?)", [
            (1, "甲", 100.0, "北京"), (2, "乙", 250.0, "上海"), (3, "丙", 250.0, "北京"), (4, "丁", 80.0, "广州"),
        ])
    return DatabaseTarget(url=sqlite_url(path, read_only=True).render_as_string(), dialect="sqlite")


def _judge(target: DatabaseTarget, pairs: list[tuple[str, str]], **options: object) -> list[ItemVerdict]:
    gold = [GoldItem(database="shop", gold_sql=g) for g, _ in pairs]
    runs = PredictionRuns(runs=[prediction_set(gold, [p for _, p in pairs], label="m", model="m", source="t")])
    return evaluate_runs(runs, {"shop": target}, EvalOptions(workers=1, **options))["m"]


PLANTED = [
    ("SELECT 客户 FROM 不存在", "fails"),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "timeout"),
    ("SELECT 客户 FROM 订单", "too-large"),  # row_cap 3 below
    ("SELECT 客户 FROM 订单 WHERE 金额_元 > 1000", "empty"),
    ("SELECT 客户 FROM 订单 ORDER BY 金额_元 DESC LIMIT 1", "tie-dependent"),  # 250 twice
    ("SELECT 城市, count(*) AS n FROM 订单 GROUP BY 城市 ORDER BY n DESC LIMIT 1", None),  # 北京 alone has 2
    ("SELECT 客户, 金额_元 FROM 订单 ORDER BY 2 ASC LIMIT 2", None),  # 80, 100: no tie at the cut
    ("SELECT 客户, 金额_元 FROM 订单 ORDER BY 2 DESC LIMIT 2", None),  # 250, 250 then 100: the cut is clear
    ("SELECT count(*) FROM 订单 WHERE 城市 = '北京'", None),
]


def test_gold_hygiene_flags_planted_bad_gold_and_keeps_it_out_of_the_headline(shop: DatabaseTarget) -> None:
    verdicts = _judge(shop, [(g, g) for g, _ in PLANTED], timeout_s=0.3, row_cap=3)
    assert [v.gold_flag for v in verdicts] == [flag for _, flag in PLANTED]
    metrics = summarize("m", verdicts)
    assert metrics.gold_flags == {"fails": 1, "timeout": 1, "too-large": 1, "empty": 1, "tie-dependent": 1}
    assert metrics.flagged_items == [0, 1, 2, 3, 4] and metrics.headline == 4 and metrics.exec_match == 100.0
    table = spider_table(metrics)
    assert "5 of 9 items kept out of the headline" in table and "1 tie-dependent" in table


def test_tie_probe_resolves_aliases_and_positions() -> None:
    probe = tie_probe("SELECT 城市, count(*) AS n FROM 订单 GROUP BY 城市 ORDER BY n DESC LIMIT 3", "sqlite")
    assert probe is not None and "COUNT(*) AS __tie_key_0" in probe[0] and probe[0].endswith("LIMIT 4") and probe[1:] == (3, 1)
    assert tie_probe("SELECT DISTINCT a FROM t ORDER BY a LIMIT 1", "sqlite") is None
    assert tie_probe("SELECT a FROM t ORDER BY a", "sqlite") is None


def test_unsafe_outputs_are_counted_per_model_and_in_the_taxonomy(shop: DatabaseTarget) -> None:
    gold = "SELECT 城市, sum(金额_元) FROM 订单 GROUP BY 城市"
    outputs = [
        "CREATE VIEW 汇总 AS SELECT 城市, sum(金额_元) FROM 订单 GROUP BY 城市",
        "CREATE TABLE t AS SELECT 城市, sum(金额_元) FROM 订单 GROUP BY 城市",
        "INSERT INTO 订单 SELECT * FROM 订单",
        "SELECT 城市, sum(金额_元) FROM 订单 GROUP BY 城市; DROP TABLE 订单",
        gold,
        "SELECT 城市, sum(金额) FROM 订单 GROUP BY 城市",
        "SELECT 城市, sum(金额_元) FROM 订单 WHERE 城市 != '广州' GROUP BY 城市",
        "SELEC 城市",
    ]
    verdicts = _judge(shop, [(gold, o) for o in outputs])
    assert [v.pred_error for v in verdicts][:4] == ["unsafe"] * 4 and not any(v.match for v in verdicts[:4])
    assert verdicts[0].pred_sql.startswith("CREATE VIEW")  # never the query inside it
    metrics = summarize("m", verdicts)
    assert metrics.unsafe == 4 and metrics.unsafe_rate == 50.0
    assert metrics.failures == {"syntax": 1, "unknown_table_column": 1, "unsafe": 4, "wrong_result": 1}
    assert metrics.failure_examples["unsafe"][0].reason.startswith("CREATE VIEW defines or writes")
    table = failures_markdown(metrics)
    assert "| unsafe | 4 |" in table and "no such column" in table
    assert verdicts[4].soft_f1 == 1.0 and verdicts[4].ves_reward == 1.0  # the gold itself: ratio 1
    assert 0 < (verdicts[6].soft_f1 or 0) < 1  # two of three rows: partial credit


def test_r_ves_uses_repeated_timings_bounded_by_the_timeout(shop: DatabaseTarget) -> None:
    gold = "SELECT count(*) FROM 订单"
    # A million joined rows: tens of milliseconds, against microseconds for the gold (and ~10 ms
    # for its first run, which pays the gate's one-time set-up), so no pause on the gold's side
    # can make it look as fast.
    slow = ("SELECT count(*) FROM 订单 WHERE (SELECT count(*) FROM 订单 a, 订单 b, 订单 c, 订单 d, 订单 e, 订单 f, 订单 g, "
            "订单 h, 订单 i, 订单 j) > 0")
    [shared] = _judge(shop, [(gold, gold)])
    assert shared.ves_reward == 1.0  # no repeats: the prediction reuses the gold's run, ratio exactly 1
    [same, slower] = _judge(shop, [(gold, gold), (gold, slow)], ves_repeats=5)
    assert same.match and slower.match
    # Timed again, an identical query's ratio sits on BIRD's step at 1.0 (a few microseconds of
    # noise either way): one step of reward either side, never more.
    assert same.ves_reward in (0.75, 1.0, 1.25)
    assert slower.ves_reward is not None and slower.ves_reward < 1.0
    assert summarize("m", [same, slower]).r_ves == pytest.approx(
        (math.sqrt(same.ves_reward) + math.sqrt(slower.ves_reward)) / 2 * 100)
