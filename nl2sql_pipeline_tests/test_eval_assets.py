"""eval_predictions and eval_metrics materialized in-process on spider-de databases."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from nl2sql_pipeline.core.evaluation.inputs import prediction_set, read_gold
from nl2sql_pipeline.core.evaluation.results import EvalReport, EvalResults
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.defs.evaluation import EvaluationInputError, eval_metrics, eval_predictions
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline_tests.conftest import SPIDER_DE

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
        assets,
        resources={"databases": DatabasesResource(config_path=_databases_yaml(tmp_path)), "json_io_manager": PydanticJsonIOManager()},
        run_config={"ops": {"eval_predictions": {"config": {"workers": 1, **config}}}},
        raise_on_error=False,
    )


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
    [check] = result.get_asset_check_evaluations()
    assert check.passed


def test_check_warns_when_the_adapter_is_worse(tmp_path: Path) -> None:
    gold_sql = [g.gold_sql for g in GOLD]
    result = _materialize(tmp_path, _producer(gold_sql, ["SELECT 1"] * len(gold_sql)))
    assert result.success  # a warning, not a failed run
    [check] = result.get_asset_check_evaluations()
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
