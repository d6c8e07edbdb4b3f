"""One serving session: start (or attach), prove the adapter answers, probe the dev split, stop.

Base and adapter answer the same dev prompts, so their predictions feed the evaluation's
before/after table; quality is scored with the evaluation code (execution on the read-only
executor), speed is measured here at the configured concurrency.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from openai import OpenAIError
from pydantic import BaseModel, Field

from nl2sql_pipeline.core.audit import AuditTarget
from nl2sql_pipeline.core.config import DatabasesFile
from nl2sql_pipeline.core.evaluation.results import database_target
from nl2sql_pipeline.core.evaluation.runner import DatabaseTarget, EvalOptions, ItemVerdict, evaluate_runs
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.core.serving.check import (
    AnswerComparison,
    ProbeItem,
    ProbeRun,
    client_for,
    compare_answers,
    listed_models,
    probe,
)
from nl2sql_pipeline.core.serving.config import ServeConfig
from nl2sql_pipeline.core.serving.server import ServingError, log_tail, served_endpoint, serve_command


class ServingCheckError(ServingError):
    """The server ran, but the check shows the adapter is not what answers (or requests failed)."""


class ProbeScore(BaseModel):
    label: str
    items: int
    executable: int  # items whose gold query runs
    syntax_valid_rate: float
    exec_success_rate: float
    exec_match_rate: float  # over executable items, as Spider counts


class ServingReport(BaseModel):
    base_url: str
    base_model: str
    adapter_name: str
    launched: bool  # False when attached to a running server
    command: list[str] = Field(default_factory=list)
    log_path: str | None = None
    models: list[str] = Field(default_factory=list)
    comparison: AnswerComparison | None = None
    probes: list[ProbeRun] = Field(default_factory=list)
    scores: list[ProbeScore] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def database_targets(databases: DatabasesFile, names: set[str]) -> dict[str, DatabaseTarget]:
    """Where each named database's queries run (the URL stays in memory, never in the report)."""
    return {name: database_target(databases.get(name)) for name in sorted(names)}


def score(label: str, verdicts: list[ItemVerdict]) -> ProbeScore:
    n = len(verdicts) or 1
    executable = [v for v in verdicts if v.executable]
    return ProbeScore(
        label=label, items=len(verdicts), executable=len(executable),
        syntax_valid_rate=round(sum(v.syntax_ok for v in verdicts) / n, 4),
        exec_success_rate=round(sum(v.executed for v in verdicts) / n, 4),
        exec_match_rate=round(sum(v.match for v in executable) / (len(executable) or 1), 4),
    )


def _failures(report: ServingReport) -> list[str]:
    failures = []
    if report.adapter_name not in report.models:
        failures.append(f"/v1/models does not list the adapter {report.adapter_name!r}: {report.models}")
    c = report.comparison
    if c is not None and not c.differs:
        failures.append(
            f"the adapter {report.adapter_name!r} answers {c.prompt!r} exactly like the base model (same text,"
            f" log probabilities within {c.max_logprob_delta:.2g}): the adapter is not applied or has no effect"
        )
    failures += [f"{p.failed_requests} of {p.items} requests to {p.model!r} failed; first: {p.first_error}"
                 for p in report.probes if p.failed_requests]
    return failures


def run_serving_check(
    config: ServeConfig,
    base_model: str,
    adapter_dir: Path,
    items: list[ProbeItem],
    targets: Mapping[str, DatabaseTarget],
    log_dir: Path,
    audit: AuditTarget | None = None,
) -> tuple[ServingReport, PredictionRuns]:
    """The report (its `failures` say whether the check passed) and the base/adapter predictions;
    the probes' statements go to `audit` when given."""
    command = [] if config.attach_url else serve_command(config, base_model, Path(adapter_dir))
    with served_endpoint(config, base_model, Path(adapter_dir), log_dir) as endpoint:
        client = client_for(endpoint, config.request_timeout_s, config.api_key())
        report = ServingReport(
            base_url=endpoint.base_url, base_model=endpoint.base_model, adapter_name=endpoint.adapter_name,
            launched=endpoint.pid is not None, command=command, log_path=endpoint.log_path,
            models=[m["id"] for m in listed_models(client)],
        )
        try:
            report.comparison = compare_answers(client, endpoint, config.check)
        except OpenAIError as err:  # /v1/models answered, yet the engine can die on its first real request
            tail = f" Log tail ({endpoint.log_path}):\n{log_tail(Path(endpoint.log_path))}\n" if endpoint.log_path else ""
            raise ServingCheckError(
                f"The first real completion request failed: {type(err).__name__}: {err}.{tail}",
                "read the server log (an unsupported model shape or dtype, too little memory) and fix the model or"
                " the launch arguments.",
            ) from None
        source = f"openai:{endpoint.base_url}"
        runs = []
        for label, model in (("base", endpoint.base_model), ("adapter", endpoint.adapter_name)):
            predictions, run = probe(client, model, label, items, config.check, source)
            runs.append(predictions)
            report.probes.append(run)
    predictions = PredictionRuns(runs=runs)
    if items:
        verdicts = evaluate_runs(predictions, targets, EvalOptions(timeout_s=config.check.exec_timeout_s, audit=audit))
        report.scores = [score(label, v) for label, v in verdicts.items()]
    report.failures = _failures(report)
    return report, predictions
