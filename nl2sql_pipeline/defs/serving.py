"""Serving as assets: the check that the adapter is what answers, and its dev-split predictions.

One server session yields both assets (launching vLLM twice would double a minutes-long start).
"""

from typing import Any

import dagster as dg
from pydantic import Field

from nl2sql_pipeline.core.config import nl2sql_home
from nl2sql_pipeline.core.fsutil import atomic_write_text
from nl2sql_pipeline.core.predictions import PredictionRuns
from nl2sql_pipeline.core.serving import check, config, items, server, session
from nl2sql_pipeline.core.serving.config import ServeConfig, load_serve_config
from nl2sql_pipeline.core.serving.session import ServingCheckError, ServingReport, database_targets, run_serving_check
from nl2sql_pipeline.defs.audit import run_audit_target
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version

GROUP = "serving"


class ServingResource(dg.ConfigurableResource):
    """`configs/serve.yaml` (or `config_path`), with optional overrides for one deployment."""

    config_path: str = Field("", description="a serve.yaml to read; default $NL2SQL_SERVE_CONFIG or configs/serve.yaml")
    attach_url: str = Field("", description="an OpenAI-compatible server already running: launch nothing")
    launch_command: list[str] = Field([], description="overrides the file's launch_command")

    def config(self) -> ServeConfig:
        loaded = load_serve_config(self.config_path or None)
        update: dict[str, Any] = {}
        if self.attach_url:
            update["attach_url"] = self.attach_url.rstrip("/")
        if self.launch_command:
            update["launch_command"] = self.launch_command
        return loaded.model_copy(update=update) if update else loaded


def _report_metadata(report: ServingReport) -> dict[str, Any]:
    rows = "\n".join(
        f"| {p.label} | {p.items} | {p.failed_requests} | {s.syntax_valid_rate:.1%} | {s.exec_success_rate:.1%} |"
        f" {s.exec_match_rate:.1%} | {p.latency_p50_s or 0:.3f} | {p.latency_p95_s or 0:.3f} | {p.samples_per_s:.2f} |"
        for p, s in zip(report.probes, report.scores)
    )
    c = report.comparison
    return {
        "passed": report.passed,
        "base_model": report.base_model,
        "adapter_name": report.adapter_name,
        "models": ", ".join(report.models),
        "launched": report.launched,
        "command": " ".join(report.command) or "attached",
        "adapter_differs": bool(c and c.differs),
        "max_logprob_delta": float(c.max_logprob_delta) if c else 0.0,
        "answers": dg.MetadataValue.md(
            f"prompt: `{c.prompt}`\n\nbase: `{c.base.text[:300]!r}`\n\nadapter: `{c.adapter.text[:300]!r}`" if c else ""
        ),
        "probes": dg.MetadataValue.md(
            "| model | items | failed | syntax-valid | exec success | exec match | p50 s | p95 s | samples/s |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + rows
        ),
    }


@dg.multi_asset(
    outs={
        "serving_check": dg.AssetOut(
            io_manager_key="json_io_manager", kinds={"vllm"},
            description="The served adapter is listed and answers differently from the base; dev-split probe "
                        "figures (syntax-valid, execution success/match, latency p50/p95, samples/s).",
        ),
        "served_predictions": dg.AssetOut(
            io_manager_key="json_io_manager", kinds={"vllm"},
            description="Base and adapter answers to the dev split from the served model, for evaluation.",
        ),
    },
    ins={"lora_adapter": dg.AssetIn()},
    deps=[dg.AssetKey("training_dataset")],
    group_name=GROUP,
    code_version=code_version(config, server, check, items, session),
    pool="gpu",  # one model server on the GPU at a time (slots from configs/orchestration.yaml)
)
def serving_session(
    context: dg.AssetExecutionContext, serving: ServingResource, databases: DatabasesResource, lora_adapter: Any
) -> tuple[dg.Output[ServingReport], dg.Output[PredictionRuns]]:
    """Serve the base model with the LoRA adapter on vLLM (or attach), prove the adapter answers, probe dev.

    The server is always stopped, also on failure; a failed check fails the run after saving its report.
    """
    cfg = serving.config()
    dataset_dir = nl2sql_home() / "dataset"
    probe_items = items.dev_probe_items(dataset_dir, cfg.check.probe_limit)
    targets = database_targets(databases.file(), {i.database for i in probe_items})
    out_dir = nl2sql_home() / "serving"
    context.log.info(f"serving {lora_adapter.base_model} + {lora_adapter.adapter_dir}; {len(probe_items)} dev items")
    audit = run_audit_target(context, "serving")
    report, predictions = run_serving_check(
        cfg, lora_adapter.base_model, lora_adapter.path(), probe_items, targets, out_dir / "logs", audit=audit
    )
    atomic_write_text(out_dir / "report.json", report.model_dump_json(indent=1))
    if not report.passed:
        raise ServingCheckError(
            "The serving check failed: " + "; ".join(report.failures) + f". Report: {out_dir / 'report.json'}.",
            "retrain or re-export the adapter, or fix the launch arguments in configs/serve.yaml"
            f" (server log: {report.log_path or 'attached server'}).",
        )
    return (
        dg.Output(report, output_name="serving_check",
                  metadata={**_report_metadata(report), "audit_log": dg.MetadataValue.path(audit.path)}),
        dg.Output(predictions, output_name="served_predictions",
                  metadata={"items": len(predictions), "labels": ", ".join(r.label for r in predictions.runs)}),
    )
