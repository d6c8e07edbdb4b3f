"""Evaluation assets: base and adapter predictions scored by execution, then a before/after report.

`eval_predictions` scores whichever predictions exist: LLaMA-Factory's (`lf_predictions`), the
served model's (`served_predictions`) and, from run config, a Spider-format benchmark. It reads
them from storage rather than as inputs, so the graph loads whichever producers are defined.
"""

import base64
from pathlib import Path
from typing import Any

import dagster as dg

from nl2sql_pipeline.core import execution, hardness
from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.evaluation import chart, compare, extract, inputs, report, results, runner, textmetrics
from nl2sql_pipeline.core.evaluation.report import before_after_markdown, breakdown_markdown
from nl2sql_pipeline.core.evaluation.results import EvalReport, EvalResults, ScoredRun
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version

GROUP = "evaluation"
PREDICTION_SOURCES = ("lf_predictions", "served_predictions")


class EvalConfig(dg.Config):
    """How predictions are judged, and an optional Spider-format benchmark to score beside the dev split."""

    semantics: str = "test-suite"  # test-suite | set | ordered
    strip_distinct: bool = False
    timeout_s: float = 5.0
    row_cap: int = 100_000
    workers: int = 0
    spider_gold: str = ""  # SQL<TAB>db_id file or dev.json
    spider_db_dir: str = ""  # <db_id>/<db_id>.sqlite folder
    spider_predictions: dict[str, str] = {}  # label ("base", "adapter") -> prediction file


class EvaluationInputError(Nl2SqlError):
    """There is nothing to evaluate, or the evaluation settings are invalid."""


def _options(config: EvalConfig) -> EvalOptions:
    if config.semantics not in compare.SEMANTICS:
        raise EvaluationInputError(f"Unknown semantics {config.semantics!r}.", f"use one of {', '.join(compare.SEMANTICS)}.")
    return EvalOptions(semantics=config.semantics, strip_distinct=config.strip_distinct,  # type: ignore[arg-type]
                       timeout_s=config.timeout_s, row_cap=config.row_cap, workers=config.workers)


def _spider_runs(config: EvalConfig) -> tuple[PredictionRuns, dict[str, DatabaseTarget]]:
    gold = inputs.read_gold(Path(config.spider_gold))
    runs = []
    for label, path in config.spider_predictions.items():
        p = Path(path)
        outputs = ([r.predict for r in inputs.read_generated_predictions(p)] if p.suffix == ".jsonl"
                   else inputs.read_spider_predictions(p))
        runs.append(inputs.prediction_set(gold, outputs, label=label, model=path, source="spider"))
    targets = {}
    for db_id in {g.database for g in gold}:
        path = inputs.spider_db_path(Path(config.spider_db_dir), db_id)
        if path.is_file():
            targets[db_id] = DatabaseTarget(url=f"sqlite+pysqlite:///file:{path.resolve()}?mode=ro&uri=true", dialect="sqlite")
    return PredictionRuns(runs=runs), targets


@dg.asset(
    group_name=GROUP,
    kinds={"python", "sql"},
    deps=[dg.AssetKey(source) for source in PREDICTION_SOURCES],
    io_manager_key="json_io_manager",
    code_version=code_version(runner, compare, extract, textmetrics, hardness, execution, results, inputs),
)
def eval_predictions(
    context: dg.AssetExecutionContext,
    config: EvalConfig,
    databases: DatabasesResource,
    json_io_manager: dg.ResourceParam[PydanticJsonIOManager],
) -> EvalResults:
    """Every prediction of the base model and the adapter, judged by execution on the read-only
    executor (enforced timeouts), with its hardness, topic and text scores."""
    options = _options(config)
    scored: list[ScoredRun] = []
    notes = []
    for source in PREDICTION_SOURCES:
        runs = json_io_manager.load_previous(dg.AssetKey(source), None)
        if runs is None:
            notes.append(f"{source}: not materialized, skipped")
            continue
        names = {item.database for run in runs.runs for item in run.items}
        known = {db.name for db in databases.file().databases}
        if names - known:
            notes.append(f"{source}: databases not configured, items not executable: {', '.join(sorted(names - known))}")
        targets = {name: results.database_target(databases.get(name)) for name in names & known}
        context.log.info(f"scoring {source}: {len(runs)} predictions on {len(targets)} database(s)")
        scored += results.score_predictions(source, runs, targets, options)
    if config.spider_gold:
        runs, targets = _spider_runs(config)
        scored += results.score_predictions("spider", runs, targets, options)
    if not scored:
        raise EvaluationInputError(
            "No predictions to evaluate: " + "; ".join(notes) + ", and no Spider benchmark is configured.",
            "materialize lf_predictions (training) or served_predictions (serving), or set spider_gold, "
            "spider_db_dir and spider_predictions in this asset's run config.",
        )
    for note in notes:
        context.log.warning(note)
    value = EvalResults(runs=scored, options=options, notes=notes)
    context.add_output_metadata({
        f"{r.source}/{r.label} exec match %": round(100 * sum(v.match for v in r.verdicts if v.executable)
                                                    / max(1, sum(v.executable for v in r.verdicts)), 2)
        for r in scored
    } | {"items": len(value), "notes": "\n".join(notes) or "none"})
    return value


def _chart_markdown(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f"![before/after](data:image/png;base64,{encoded})\n\n`{path}`"


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    io_manager_key="json_io_manager",
    code_version=code_version(report, chart, results),
    check_specs=[dg.AssetCheckSpec("adapter_not_worse", asset="eval_metrics",
                                   description="The adapter's execution match is not below the base model's.")],
)
def eval_metrics(context: dg.AssetExecutionContext, eval_predictions: EvalResults) -> Any:
    """Execution match, success and syntax-valid rates, text metrics, breakdowns by hardness,
    topic and database, and the before/after table (base vs adapter, with deltas) plus a chart."""
    runs = results.summaries(eval_predictions)
    png = chart.metrics_chart(runs, nl2sql_home() / "reports" / "eval_metrics.png")
    value = EvalReport(runs=runs, chart_path=str(png))
    tables = "\n\n".join(f"**{base.label.rsplit('/', 1)[0]}**\n\n{before_after_markdown(base, adapter)}"
                         for base, adapter in value.pairs())
    metadata: dict[str, Any] = {
        "before_after": dg.MetadataValue.md(tables or "no source has both base and adapter predictions"),
        "by_hardness": dg.MetadataValue.md(breakdown_markdown(runs, "by_hardness")),
        "by_topic": dg.MetadataValue.md(breakdown_markdown(runs, "by_topic")),
        "by_database": dg.MetadataValue.md(breakdown_markdown(runs, "by_database")),
        "chart": dg.MetadataValue.md(_chart_markdown(png)),
        "chart_path": dg.MetadataValue.path(str(png)),
    }
    yield dg.Output(value, metadata=metadata)
    regressions = value.regressions()
    yield dg.AssetCheckResult(
        check_name="adapter_not_worse",
        passed=not regressions,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"regressions": "; ".join(regressions) or "none", "compared_sources": len(value.pairs())},
    )
