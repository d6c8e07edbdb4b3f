"""The golden set: JSONL/CSV import, promotion of reviewed dev pairs, leaks into training, the
promotion criterion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nl2sql_pipeline.core.evaluation.golden import (
    GoldenItem,
    golden_runs,
    leaked,
    promote,
    promotion_verdict,
    read_golden_dir,
    read_golden_file,
    training_questions,
)
from nl2sql_pipeline.core.evaluation.inputs import EvalInputError
from nl2sql_pipeline.core.predictions import PredictionItem, PredictionRuns, PredictionSet


def test_jsonl_and_csv_with_chinese_and_commas(tmp_path: Path) -> None:
    (tmp_path / "sales_cn.jsonl").write_text(
        json.dumps({"question": "北京的订单总额是多少？", "sql": "SELECT sum(金额) FROM 订单 WHERE 城市 = '北京'", "note": "单位：元"},
                   ensure_ascii=False) + "\n\n", encoding="utf-8")
    (tmp_path / "hr.csv").write_text('question,sql,note\n"Who earns more than 20,000?","SELECT name FROM emp WHERE pay > 20000",\n',
                                     encoding="utf-8")
    items = read_golden_dir(tmp_path)
    assert [(i.database, i.note) for i in items] == [("hr", ""), ("sales_cn", "单位：元")]
    assert items[0].question == "Who earns more than 20,000?"


@pytest.mark.parametrize(("name", "text"), [("a.jsonl", '{"question": "q"}\n'), ("a.jsonl", "not json\n"),
                                            ("a.csv", "question,query\nq,SELECT 1\n")])
def test_a_malformed_line_names_its_number_and_the_format(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(EvalInputError, match=r"Line \d+ of the golden set .* question and sql"):
        read_golden_file(tmp_path / name, "a")


def test_promote_appends_reviewed_pairs_once(tmp_path: Path) -> None:
    reviewed = [GoldenItem(database="hr", question="谁的工资最高？", sql="SELECT 姓名 FROM 员工 ORDER BY 月薪 DESC LIMIT 1"),
                GoldenItem(database="hr", question="How many staff?", sql="SELECT count(*) FROM 员工", note="checked")]
    promote(reviewed[:1], tmp_path)
    promote(reviewed, tmp_path)  # the first is already there: kept once
    assert [i.question for i in read_golden_file(tmp_path / "hr.jsonl", "hr")] == ["谁的工资最高？", "How many staff?"]


def test_leaks_and_scoring_by_question(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [
        {"database": "hr", "split": "train", "question": "How many  staff?", "sql": "x"},
        {"database": "hr", "split": "dev", "question": "Who leads?", "sql": "y"}]), encoding="utf-8")
    golden = [GoldenItem(database="hr", question="how many staff?", sql="SELECT count(*) FROM 员工"),
              GoldenItem(database="hr", question="Who leads?", sql="SELECT 1")]
    assert leaked(golden, training_questions(samples)) == golden[:1]  # case and spacing do not hide a leak
    run = PredictionSet(label="adapter", model="m", source="t", items=[
        PredictionItem(index=7, database="hr", question="Who leads?", gold_sql="SELECT 2", output="SELECT 1"),
        PredictionItem(index=8, database="hr", question="Other?", gold_sql="SELECT 3", output="SELECT 3")])
    [scored] = golden_runs(PredictionRuns(runs=[run]), golden).runs
    assert [(i.index, i.gold_sql) for i in scored.items] == [(0, "SELECT 1")]  # the golden SQL is the gold


def test_promotion_verdict_needs_the_margin_over_every_baseline() -> None:
    assert promotion_verdict({"base": 50.0, "adapter": 56.0}, baseline="base", margin=5.0).passed
    assert not promotion_verdict({"base": 50.0, "adapter": 54.0}, baseline="base", margin=5.0).passed
    assert not promotion_verdict({"base": 50.0, "adapter": 56.0}, baseline="base", margin=5.0, previous=53.0).passed
    both = promotion_verdict({"base": 50.0, "adapter": 60.0, "grpo": 52.0}, baseline="base", margin=5.0)
    assert not both.passed and any(line.startswith("grpo") for line in both.lines)  # labels are data, not names
    assert not promotion_verdict({"adapter": 90.0}, baseline="base", margin=1.0).passed
