"""eval_predictions and eval_metrics materialized in-process on spider-de databases."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.core.evaluation.inputs import prediction_set, read_gold
from nl2sql_pipeline.core.evaluation.results import EvalReport, EvalResults
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.defs.evaluation import EvaluationInputError, eval_metrics, eval_predictions, neighbour_databases
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline_tests.conftest import SPIDER_DE, with_stand_ins

DBS = ("concert_singer", "pets_1")
GOLD = [g for g in read_gold(SPIDER_DE / "dev_gold.sql") if g.database in DBS]


def _databases_yaml(tmp_path: Path) -> str:
    entries = [{"name": db, "url": f"sqlite:///{SPIDER_DE / 'database' / db / (db + '.sqlite')}"} for db in DBS]
    path = tmp_path / "databases.yaml"
    path.write_text(yaml.safe_dump({"databases": entries}), encoding="utf-8")
    return str(path)


def _producer(base_outputs: list[str], adapter_outputs: list[str]) -> dg.AssetsDefinition:
    """Stands in for the training group's lf_predictions: same key, same PredictionRuns contract."""

    @dg.asset(name="lf_predictions", io_manager_key="json_io_manager")
    def lf_predictions() -> PredictionRuns:
        return PredictionRuns(runs=[
            prediction_set(GOLD, base_outputs, label="base", model="tiny", source="llamafactory"),
            prediction_set(GOLD, adapter_outputs, label="adapter", model="tiny+lora", source="llamafactory"),
        ])

    return lf_predictions


def _materialize(tmp_path: Path, producer: dg.AssetsDefinition | None, **config: object) -> dg.ExecuteInProcessResult:
    assets = [a for a in (producer, eval_predictions, eval_metrics) if a is not None]
    return dg.materialize(
        with_stand_ins(assets),
        resources={"databases": DatabasesResource(config_path=_databases_yaml(tmp_path)), "json_io_manager": PydanticJsonIOManager()},
        run_config={"ops": {"eval_predictions": {"config": {"workers": 1, **config}}}},
        raise_on_error=False,
    )


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    return next(c for c in result.get_asset_check_evaluations() if c.check_name == name)


def test_before_after_report_and_check(tmp_path: Path) -> None:
    gold_sql = [g.gold_sql for g in GOLD]
    base = ["我不知道。" if i % 2 else f"```sql\n{sql}\n```" for i, sql in enumerate(gold_sql)]
    result = _materialize(tmp_path, _producer(base, [f"SQL: {sql};" for sql in gold_sql]))
    assert result.success
    scored: EvalResults = result.output_for_node("eval_predictions")
    assert {(r.source, r.label) for r in scored.runs} == {("lf_predictions", "base"), ("lf_predictions", "adapter")}
    report: EvalReport = result.output_for_node("eval_metrics")
    base_m, adapter_m = report.pairs()[0]
    assert adapter_m.exec_match == 100.0 and 30 < base_m.exec_match < 70
    assert set(adapter_m.by_database) == set(DBS) and "easy" in adapter_m.by_hardness
    assert adapter_m.text is not None and adapter_m.text.lf_bleu4 is not None
    md = result.get_asset_materialization_events()[-1].materialization.metadata
    assert "| Execution match % |" in md["before_after"].value and "BLEU-4 (LLaMA-Factory)" in md["before_after"].value
    assert "data:image/png;base64," in md["chart"].value
    assert Path(report.chart_path).read_bytes()[:4] == b"\x89PNG"
    check = _check(result, "adapter_not_worse")
    assert check.passed
    golden_check = _check(result, "beats_base_on_golden_set")  # no golden set: a warning that says so
    assert not golden_check.passed and golden_check.severity == dg.AssetCheckSeverity.WARN
    assert "no golden set" in golden_check.metadata["verdict"].value


def test_check_warns_when_the_adapter_is_worse(tmp_path: Path) -> None:
    gold_sql = [g.gold_sql for g in GOLD]
    result = _materialize(tmp_path, _producer(gold_sql, ["SELECT 1"] * len(gold_sql)))
    assert result.success  # a warning, not a failed run
    check = _check(result, "adapter_not_worse")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "lf_predictions/adapter" in check.metadata["regressions"].value


def test_spider_benchmark_from_config(tmp_path: Path) -> None:
    gold_file = tmp_path / "gold.sql"
    gold_file.write_text("".join(f"{g.gold_sql}\t{g.database}\n" for g in GOLD), encoding="utf-8")
    pred = tmp_path / "pred.txt"
    pred.write_text("".join(g.gold_sql + "\n" for g in GOLD), encoding="utf-8")
    result = _materialize(tmp_path, None, spider_gold=str(gold_file), spider_db_dir=str(SPIDER_DE / "database"),
                          spider_predictions={"adapter": str(pred)})
    assert result.success
    [run] = result.output_for_node("eval_predictions").runs
    assert run.source == "spider" and all(v.match for v in run.verdicts if v.executable)


def test_nothing_to_evaluate_names_cause_and_fix(tmp_path: Path) -> None:
    result = _materialize(tmp_path, None)
    assert not result.success
    text = result.failure_data_for_node("eval_predictions").error.to_string()
    assert EvaluationInputError.__name__ in text
    assert "No predictions to evaluate" in text and "Fix: materialize lf_predictions" in text


DEV = [g for g in read_gold(SPIDER_DE / "dev.json") if g.database in DBS]
NEAR_MISSES = [c for c in yaml.safe_load((SPIDER_DE.parent / "neighbour_perturbations.yaml").read_text("utf-8"))
               if c["db_id"] in DBS]


def _dev_producer(base: list[str], adapter: list[str]) -> dg.AssetsDefinition:
    @dg.asset(name="lf_predictions", io_manager_key="json_io_manager")
    def lf_predictions() -> PredictionRuns:
        return PredictionRuns(runs=[prediction_set(DEV, base, label="base", model="tiny", source="llamafactory"),
                                    prediction_set(DEV, adapter, label="adapter", model="tiny+lora", source="llamafactory")])

    return lf_predictions


def _materialize_all(tmp_path: Path, producer: dg.AssetsDefinition, ops: dict) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        with_stand_ins([producer, neighbour_databases, eval_predictions, eval_metrics]),
        resources={"databases": DatabasesResource(config_path=_databases_yaml(tmp_path)), "json_io_manager": PydanticJsonIOManager()},
        run_config={"ops": {"eval_predictions": {"config": {"workers": 1, **ops.get("eval_predictions", {})}},
                            "neighbour_databases": {"config": {"n": 4, "workdir": str(tmp_path / "nb")}},
                            **({"eval_metrics": {"config": ops["eval_metrics"]}} if "eval_metrics" in ops else {})}},
        raise_on_error=False,
    )


def test_neighbour_databases_turn_single_database_ex_into_test_suite_ex(tmp_path: Path) -> None:
    adapter = [g.gold_sql for g in DEV]
    fooled = 0
    for case in NEAR_MISSES:  # near-misses that the database alone accepts
        i = next((i for i, g in enumerate(DEV) if g.gold_sql == case["gold"] and adapter[i] == g.gold_sql), None)
        if i is not None:
            adapter[i], fooled = case["pred"], fooled + 1
    assert fooled >= 2
    result = _materialize_all(tmp_path, _dev_producer(["SELECT 1"] * len(DEV), adapter), {})
    assert result.success
    index = result.output_for_node("neighbour_databases")
    assert {s.database for s in index.sets} == set(DBS) and all(len(s.paths) == 4 for s in index.sets)
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("neighbour_databases"))
    assert event.materialization.tags and event.materialization.tags.get("dagster/data_version") == index.version
    report: EvalReport = result.output_for_node("eval_metrics")
    [(_, tuned)] = [p for p in report.pairs() if p[0].label == "lf_predictions/base"]
    assert tuned.test_suite and tuned.single_db_exec_match == 100.0 and tuned.exec_match < 100.0
    assert tuned.failures.get("wrong_on_neighbours", 0) >= 1
    md = next(e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("eval_metrics")).materialization.metadata
    assert "EX test-suite" in md["test_suite"].value and "wrong_on_neighbours" in md["failures"].value


def _golden_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "golden"
    folder.mkdir()
    concert = [g for g in DEV if g.database == "concert_singer"][:10]
    (folder / "concert_singer.jsonl").write_text("".join(
        json.dumps({"question": g.question, "sql": g.gold_sql, "note": "reviewed"}, ensure_ascii=False) + "\n" for g in concert),
        encoding="utf-8")
    pets = [g for g in DEV if g.database == "pets_1"][:6]
    with (folder / "pets_1.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["question", "sql", "note"])
        writer.writerows([g.question, g.gold_sql, ""] for g in pets)
    return folder


@pytest.mark.parametrize(("adapter_good", "margin", "passed"), [(True, 5.0, True), (False, 5.0, False), (True, 101.0, False)])
def test_golden_set_is_scored_apart_and_gates_promotion(tmp_path: Path, adapter_good: bool, margin: float, passed: bool) -> None:
    gold_sql = [g.gold_sql for g in DEV]
    adapter = gold_sql if adapter_good else ["SELECT 1"] * len(DEV)
    base = ["SELECT 1" if i % 2 else sql for i, sql in enumerate(gold_sql)]
    result = _materialize_all(tmp_path, _dev_producer(base, adapter), {
        "eval_predictions": {"golden_dir": str(_golden_dir(tmp_path)), "use_neighbours": False},
        "eval_metrics": {"margin_pct": margin}})
    assert result.success
    report: EvalReport = result.output_for_node("eval_metrics")
    golden_runs = {m.label: m for m in report.runs if m.label.startswith("golden:")}
    assert set(golden_runs) == {"golden:lf_predictions/base", "golden:lf_predictions/adapter"}
    assert golden_runs["golden:lf_predictions/adapter"].items == 16  # 10 JSONL + 6 CSV pairs, scored apart
    check = _check(result, "beats_base_on_golden_set")
    assert check.passed is passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "golden:lf_predictions: adapter:" in check.metadata["verdict"].value


def test_a_golden_question_seen_in_training_fails_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    golden_dir = _golden_dir(tmp_path)
    first = json.loads((golden_dir / "concert_singer.jsonl").read_text("utf-8").splitlines()[0])
    dataset = Path(os.environ["NL2SQL_HOME"]) / "dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    (dataset / "samples.jsonl").write_text(json.dumps({"database": "concert_singer", "split": "train", "question": first["question"],
                                                       "sql": first["sql"]}, ensure_ascii=False) + "\n", encoding="utf-8")
    gold_sql = [g.gold_sql for g in DEV]
    result = _materialize_all(tmp_path, _dev_producer(["SELECT 1"] * len(DEV), gold_sql), {
        "eval_predictions": {"golden_dir": str(golden_dir), "use_neighbours": False}})
    assert result.success
    check = _check(result, "beats_base_on_golden_set")
    assert not check.passed and "in the training split" in check.metadata["verdict"].value
