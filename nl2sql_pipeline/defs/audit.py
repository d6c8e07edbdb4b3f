"""The run's audit log (core/audit.py): where a step's executor records its statements, linked
from the step's materialization metadata."""

import dagster as dg

from nl2sql_pipeline.core.audit import AuditTarget, audited, run_audit
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor, executor_for


def run_audit_target(context: dg.AssetExecutionContext, purpose: str) -> AuditTarget:
    return run_audit(context.run.run_id, purpose)


def audited_executor(context: dg.AssetExecutionContext, db: DatabaseConfig, purpose: str) -> ReadOnlyExecutor:
    """The database's shared executor, recording into this run's audit file."""
    target = run_audit_target(context, purpose)
    context.add_asset_metadata({"audit_log": dg.MetadataValue.path(target.path)}, partition_key=db.name)
    return audited(executor_for(db), target, db.name)
