"""Scored prediction runs: the verdicts and text scores of each (source, model) pair.

`score_predictions` is what the Dagster assets call; `summaries` turns the result into the
per-run metrics that reports and charts show.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.evaluation.report import RunMetrics, summarize
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, ItemVerdict, evaluate_runs
from nl2sql_pipeline.core.evaluation.textmetrics import text_scores
from nl2sql_pipeline.core.predictions import PredictionRuns


class ScoredRun(BaseModel):
    source: str  # which predictions: "lf_predictions", "served_predictions", "spider:<name>"
    label: str  # "base" | "adapter" | ...
    model: str
    verdicts: list[ItemVerdict]
    text: dict[str, float | None] | None = None  # TextScores fields


class EvalResults(BaseModel):
    runs: list[ScoredRun]
    options: EvalOptions
    notes: list[str] = []
    golden_leaks: list[str] = []  # golden questions also in the training split ("db: question")

    def __len__(self) -> int:
        return sum(len(r.verdicts) for r in self.runs)


def database_target(db: DatabaseConfig) -> DatabaseTarget:
    """Where a configured database's queries run (the URL stays in memory, never in metadata)."""
    from nl2sql_pipeline.core.connection import resolve_url, sqlglot_dialect

    url = resolve_url(db)
    return DatabaseTarget(url=url.render_as_string(hide_password=False), dialect=sqlglot_dialect(db, url))


def score_predictions(
    source: str, runs: PredictionRuns, targets: Mapping[str, DatabaseTarget], options: EvalOptions
) -> list[ScoredRun]:
    """Execution verdicts for every run (gold results shared between runs), plus text scores."""
    verdicts = evaluate_runs(runs, targets, options)
    scored = []
    for run in runs.runs:
        items = verdicts[run.label]
        text = text_scores(
            [v.pred_sql for v in items], [i.gold_sql for i in run.items], outputs=[i.output for i in run.items]
        )
        scored.append(ScoredRun(source=source, label=run.label, model=run.model, verdicts=items,
                                text=text.model_dump(exclude={"count"})))
    return scored


def summaries(results: EvalResults) -> list[RunMetrics]:
    """Metrics per scored run, labelled `<source>/<label>`."""
    from nl2sql_pipeline.core.evaluation.textmetrics import TextScores

    return [
        summarize(f"{r.source}/{r.label}", r.verdicts, model=r.model,
                  text=TextScores(count=len(r.verdicts), **r.text) if r.text is not None else None)
        for r in results.runs
    ]


class EvalReport(BaseModel):
    """Metrics of every scored run, the before/after comparisons and where the chart is."""

    runs: list[RunMetrics]
    chart_path: str | None = None

    def __len__(self) -> int:
        return len(self.runs)

    def pairs(self) -> list[tuple[RunMetrics, RunMetrics]]:
        """(base, adapter) per prediction source that has both."""
        by_label = {m.label: m for m in self.runs}
        sources = sorted({m.label.rsplit("/", 1)[0] for m in self.runs})
        return [
            (by_label[f"{s}/base"], by_label[f"{s}/adapter"])
            for s in sources
            if f"{s}/base" in by_label and f"{s}/adapter" in by_label
        ]

    def regressions(self) -> list[str]:
        """One sentence per source where the adapter's execution match is below the base's."""
        return [
            f"{adapter.label}: execution match {adapter.exec_match:.2f}% < base {base.exec_match:.2f}%"
            for base, adapter in self.pairs()
            if adapter.exec_match < base.exec_match
        ]
