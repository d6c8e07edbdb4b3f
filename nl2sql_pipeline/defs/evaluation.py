"""Evaluation assets: base and adapter predictions scored by execution, then a before/after report.

`eval_predictions` scores whichever predictions exist: LLaMA-Factory's (`lf_predictions`), the
served model's (`served_predictions`), GRPO's (`rl_predictions`) and, from run config, a
Spider-format benchmark. Each producer is an optional input (None until it was materialized),
as are `neighbour_databases` (when there, matches are also judged on its copies: test-suite
accuracy) and `training_dataset` (its schema-linking report). A golden set (`golden_dir`) is
scored apart, and `eval_metrics` checks that every tuned run beats the base on it by a margin.
"""

import base64
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from nl2sql_pipeline.core import chinese, execution, hardness
from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.errors import Nl2SqlError
from nl2sql_pipeline.core.evaluation import (
    bird,
    chart,
    compare,
    extract,
    fuzz,
    golden,
    hygiene,
    inputs,
    neighbours,
    report,
    results,
    runner,
    server_neighbours,
    taxonomy,
    textmetrics,
    variants,
)
from nl2sql_pipeline.core.evaluation.neighbours import NeighbourIndex
from nl2sql_pipeline.core.evaluation.report import before_after_markdown, breakdown_markdown, failures_markdown
from nl2sql_pipeline.core.evaluation.results import EvalReport, EvalResults, ScoredRun
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions
from nl2sql_pipeline.core.export import ExportReport
from nl2sql_pipeline.core.linking.report import linking_markdown
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.defs.audit import run_audit_target
from nl2sql_pipeline.defs.io_managers import PydanticJsonIOManager, optional_input
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version

GROUP = "evaluation"
PREDICTION_SOURCES = ("lf_predictions", "served_predictions", "rl_predictions")
AFTER_RUNS = ("adapter", "grpo")  # each compared with its source's "base" run in the before/after tables
PREDICTION_INS = {source: optional_input() for source in PREDICTION_SOURCES}


class EvalConfig(dg.Config):
    """How predictions are judged, and an optional Spider-format benchmark to score beside the dev split."""

    semantics: compare.Semantics = Field(
        "test-suite", description="result comparison: test-suite (Spider's), set (BIRD's) or ordered (strict)"
    )
    strip_distinct: bool = Field(False, description="drop DISTINCT from gold and prediction before comparing")
    timeout_s: float = Field(5.0, description="seconds a query may run before it is stopped")
    row_cap: int = Field(100_000, description="most rows read from one query")
    workers: int = Field(0, description="judging processes; 0: one per CPU, 1: in this process")
    spider_gold: str = Field("", description="a Spider-format benchmark to score too: SQL<TAB>db_id file or dev.json")
    spider_db_dir: str = Field("", description="the benchmark's <db_id>/<db_id>.sqlite folder")
    spider_predictions: dict[str, str] = Field(
        {}, description="the benchmark's predictions: run label (\"base\", \"adapter\") -> prediction file"
    )
    spider_neighbours: int = Field(0, description="neighbour databases per benchmark database (0: one database)")
    use_neighbours: bool = Field(True, description="judge matches on neighbour_databases when it is materialized")
    gold_hygiene: bool = Field(True, description="flag empty and tie-dependent gold queries")
    engine_gate: bool = Field(
        True, description="on SQLite, gate queries with SQLite's own authorizer (False: the sqlglot parse, as validation)"
    )
    ves_repeats: int = Field(0, description="extra timings of gold and prediction per matched item for R-VES")
    golden_dir: str = Field(
        "", description="folder of <database>.jsonl / .csv golden sets, scored apart (\"\": $NL2SQL_HOME/golden if it exists)"
    )


class EvaluationInputError(Nl2SqlError):
    """There is nothing to evaluate, or the evaluation settings are invalid."""


def _options(config: EvalConfig) -> EvalOptions:
    return EvalOptions(semantics=config.semantics, strip_distinct=config.strip_distinct,
                       timeout_s=config.timeout_s, row_cap=config.row_cap, workers=config.workers,
                       gold_hygiene=config.gold_hygiene, engine_gate=config.engine_gate, ves_repeats=config.ves_repeats)


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
    if config.spider_neighbours:
        by_db: dict[str, list[str]] = {}
        for g in gold:
            by_db.setdefault(g.database, []).append(g.gold_sql)
        targets, _ = neighbours.with_neighbours(targets, by_db, config.spider_neighbours, nl2sql_home() / "neighbours")
    return PredictionRuns(runs=runs), targets


class NeighbourConfig(dg.Config):
    """How many neighbour copies per database, and their seed (a new seed, new copies)."""

    n: int = Field(8, description="neighbour copies per database (8 is the test-suite default)")
    seed: int = Field(0, description="seed of the copies: a new seed, new copies")
    workdir: str = Field("", description="where SQLite copies are written; default $NL2SQL_HOME/neighbours")


def _gold(*sources: PredictionRuns | None) -> dict[str, list[str]]:
    by_db: dict[str, list[str]] = {}
    for runs in sources:
        for run in runs.runs if runs is not None else []:
            for item in run.items:
                by_db.setdefault(item.database, []).append(item.gold_sql)
    return by_db


@dg.asset(
    group_name=GROUP,
    kinds={"python", "sqlite"},
    ins=PREDICTION_INS,
    io_manager_key="json_io_manager",
    code_version=code_version(neighbours, fuzz, variants, server_neighbours),
)
def neighbour_databases(
    context: dg.AssetExecutionContext,
    config: NeighbourConfig,
    databases: DatabasesResource,
    lf_predictions: PredictionRuns | None,
    served_predictions: PredictionRuns | None,
    rl_predictions: PredictionRuns | None,
) -> dg.Output[NeighbourIndex]:
    """Distilled neighbour copies of every configured database (test-suite accuracy), probed with
    the gold queries of the stored predictions; versioned on schema and seed. PostgreSQL/MariaDB
    copies go into the database's scratch database (`scratch_url_env`), else they are SQLite
    copies of a sampled extract (the note says so)."""
    if config.n < 1:
        raise EvaluationInputError(f"n={config.n} neighbour databases.", "set n to 1 or more (8 is the test-suite default).")
    gold = _gold(lf_predictions, served_predictions, rl_predictions)
    workdir = Path(config.workdir) if config.workdir else nl2sql_home() / "neighbours"
    configured = databases.file().databases
    targets = {db.name: results.database_target(db) for db in configured}
    _, sets = neighbours.with_neighbours(targets, gold, config.n, workdir, seed=config.seed,
                                         scratch=server_neighbours.scratch_urls(configured))
    notes = [s.dialect_note for s in sets if s.dialect_note]
    index = NeighbourIndex(sets=sets, notes=notes)
    for note in notes:
        context.log.warning(note)
    return dg.Output(index, data_version=dg.DataVersion(index.version), metadata={
        "databases": len(sets),
        "copies": sum(len(s.paths) for s in sets),
        "near_misses": dg.MetadataValue.md(neighbours.summary_markdown(sets)),
        "notes": "\n".join(notes) or "none",
    })


@dg.asset(
    group_name=GROUP,
    kinds={"python", "sql"},
    ins={**PREDICTION_INS, "neighbour_databases": optional_input(), "training_dataset": optional_input()},
    io_manager_key="json_io_manager",
    code_version=code_version(runner, compare, extract, chinese, textmetrics, hardness, execution, results, inputs, hygiene,
                              bird, golden),
)
def eval_predictions(
    context: dg.AssetExecutionContext,
    config: EvalConfig,
    databases: DatabasesResource,
    lf_predictions: PredictionRuns | None,
    served_predictions: PredictionRuns | None,
    rl_predictions: PredictionRuns | None,
    neighbour_databases: NeighbourIndex | None,
    training_dataset: ExportReport | None,
) -> EvalResults:
    """Every prediction of the base model and the adapter, judged by execution on the read-only
    executor (enforced timeouts), with its hardness, topic and text scores."""
    audit = run_audit_target(context, "evaluation")
    options = _options(config).model_copy(update={"audit": audit})
    scored: list[ScoredRun] = []
    notes = []
    index = neighbour_databases if config.use_neighbours else None
    folder = golden.golden_folder(config.golden_dir)
    golden_items = golden.read_golden_dir(folder) if folder else []
    leaks = golden.leaked(golden_items, golden.training_questions(nl2sql_home() / "dataset" / "samples.jsonl"))
    predictions = dict(zip(PREDICTION_SOURCES, (lf_predictions, served_predictions, rl_predictions), strict=True))
    for source, runs in predictions.items():
        if runs is None:
            notes.append(f"{source}: not materialized, skipped")
            continue
        names = {item.database for run in runs.runs for item in run.items}
        known = {db.name for db in databases.file().databases}
        if names - known:
            notes.append(f"{source}: databases not configured, items not executable: {', '.join(sorted(names - known))}")
        targets = {name: results.database_target(databases.get(name)) for name in names & known}
        if index is not None:
            targets = index.attach(targets, server_neighbours.scratch_urls(databases.file().databases, targets))
        context.log.info(f"scoring {source}: {len(runs)} predictions on {len(targets)} database(s)")
        scored += results.score_predictions(source, runs, targets, options)
        if golden_items:
            held_out = golden.golden_runs(runs, golden_items)
            if held_out.runs:
                scored += results.score_predictions(f"golden:{source}", held_out, targets, options)
            else:
                notes.append(f"{source}: no prediction answers a golden question")
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
    value = EvalResults(runs=scored, options=options, notes=notes,
                        golden_leaks=[f"{item.database}: {item.question}" for item in leaks])
    if leaks:
        context.log.warning(f"{len(leaks)} golden question(s) are also in the training split: the golden set must be held out")
    if training_dataset is not None and training_dataset.linking:  # the prompts' linking beside the scores it explains
        linking = "\n".join(linking_markdown(training_dataset.linking))
        context.add_output_metadata({"schema_linking": dg.MetadataValue.md(linking)})
    context.add_output_metadata({
        f"{r.source}/{r.label} exec match %": round(100 * sum(v.match for v in r.verdicts if v.executable)
                                                    / max(1, sum(v.executable for v in r.verdicts)), 2)
        for r in scored
    } | {"items": len(value), "notes": "\n".join(notes) or "none", "audit_log": dg.MetadataValue.path(audit.path)})
    return value


class PromotionConfig(dg.Config):
    """The promotion criterion on the golden set."""

    margin_pct: float = Field(1.0, description="percentage points of golden-set execution match a run must win by")
    baseline: str = Field(
        "base", description="the run label to beat; previous_adapter: beat the base and the last run's adapter"
    )


def _chart_markdown(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f"![before/after](data:image/png;base64,{encoded})\n\n`{path}`"


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    io_manager_key="json_io_manager",
    code_version=code_version(report, chart, results, taxonomy, golden),
    check_specs=[dg.AssetCheckSpec("adapter_not_worse", asset="eval_metrics",
                                   description="The adapter's execution match is not below the base model's."),
                 dg.AssetCheckSpec("beats_base_on_golden_set", asset="eval_metrics",
                                   description="Every tuned run beats the base (or the previous adapter) on the "
                                               "golden set by the configured margin.")],
)
def eval_metrics(context: dg.AssetExecutionContext, config: PromotionConfig, eval_predictions: EvalResults,
                 json_io_manager: dg.ResourceParam[PydanticJsonIOManager]) -> Any:
    """Execution match, success and syntax-valid rates, text metrics, breakdowns by hardness,
    topic and database, and the before/after table (base vs adapter, with deltas) plus a chart."""
    previous = json_io_manager.load_previous(dg.AssetKey("eval_metrics"), None)
    runs = results.summaries(eval_predictions)
    png = chart.metrics_chart(runs, nl2sql_home() / "reports" / "eval_metrics.png")
    value = EvalReport(runs=runs, chart_path=str(png))
    by_label = {m.label: m for m in runs}
    tables = "\n\n".join(f"**{source}: base vs {after}**\n\n{before_after_markdown(by_label[f'{source}/base'], run)}"
                         for source in sorted({m.label.rsplit('/', 1)[0] for m in runs}) for after in AFTER_RUNS
                         if f"{source}/base" in by_label and (run := by_label.get(f"{source}/{after}")))
    metadata: dict[str, Any] = {
        "before_after": dg.MetadataValue.md(tables or "no source has both base and adapter predictions"),
        "by_hardness": dg.MetadataValue.md(breakdown_markdown(runs, "by_hardness")),
        "by_topic": dg.MetadataValue.md(breakdown_markdown(runs, "by_topic")),
        "by_database": dg.MetadataValue.md(breakdown_markdown(runs, "by_database")),
        "chart": dg.MetadataValue.md(_chart_markdown(png)),
        "chart_path": dg.MetadataValue.path(str(png)),
        "test_suite": dg.MetadataValue.md(report.trust_markdown(runs)),
        "failures": dg.MetadataValue.md("\n\n".join(f"**{m.label}**\n\n{failures_markdown(m)}" for m in runs if m.failures)
                                        or "no failures"),
    }
    yield dg.Output(value, metadata=metadata)
    regressions = value.regressions()
    yield dg.AssetCheckResult(
        check_name="adapter_not_worse",
        passed=not regressions,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"regressions": "; ".join(regressions) or "none", "compared_sources": len(value.pairs())},
    )
    verdict = _golden_verdict(runs, config, previous)
    if eval_predictions.golden_leaks:  # a golden pair the model trained on proves nothing
        verdict = golden.PromotionVerdict(passed=False, lines=[
            f"{len(eval_predictions.golden_leaks)} golden question(s) are in the training split, e.g. "
            f"{eval_predictions.golden_leaks[0]}", *verdict.lines])
    yield dg.AssetCheckResult(
        check_name="beats_base_on_golden_set",
        passed=verdict.passed,
        # without a golden set there is no promotion evidence: a warning, not an error
        severity=dg.AssetCheckSeverity.ERROR if any(m.label.startswith("golden:") for m in runs) else dg.AssetCheckSeverity.WARN,
        metadata={"verdict": "\n".join(verdict.lines), "margin_pct": config.margin_pct, "baseline": config.baseline},
    )


def _golden_verdict(runs: list[report.RunMetrics], config: PromotionConfig, previous: Any) -> golden.PromotionVerdict:
    scores = {m.label: m for m in runs if m.label.startswith("golden:")}
    if not scores:
        return golden.PromotionVerdict(passed=False, lines=["no golden set was scored: set golden_dir in eval_predictions' config"])
    lines, passed = [], True
    baseline = "base" if config.baseline == "previous_adapter" else config.baseline
    for source in sorted({label.rsplit("/", 1)[0] for label in scores}):
        by_label = {label.rsplit("/", 1)[1]: m.exec_match for label, m in scores.items() if label.startswith(source + "/")}
        before = None
        if config.baseline == "previous_adapter" and isinstance(previous, EvalReport):
            before = next((m.exec_match for m in previous.runs if m.label == f"{source}/adapter"), None)
        verdict = golden.promotion_verdict(by_label, baseline=baseline, margin=config.margin_pct, previous=before)
        passed &= verdict.passed
        lines += [f"{source}: {line}" for line in verdict.lines]
    return golden.PromotionVerdict(passed=passed, lines=lines)
