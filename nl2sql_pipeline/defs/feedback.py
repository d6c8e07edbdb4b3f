"""Feedback from the ask page and API as a data_create asset: vouched pairs, validated."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from nl2sql_pipeline.core.ask import feedback
from nl2sql_pipeline.core.ask.feedback import FeedbackPairs, feedback_path, golden_candidates, validate_feedback
from nl2sql_pipeline.core.evaluation.golden import golden_folder, read_golden_dir
from nl2sql_pipeline.core.fsutil import atomic_write_text
from nl2sql_pipeline.defs.audit import audited_executor
from nl2sql_pipeline.defs.data_create import COMMON
from nl2sql_pipeline.defs.partitioned import per_partition_output, upstream
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.validation import VALIDATION_MODULES
from nl2sql_pipeline.defs.versioning import code_version


def _feedback_metadata(pairs: FeedbackPairs) -> Mapping[str, Any]:
    rows = [f"| {s.meta.get('verdict')} | {s.question} | `{s.sql}` |" for s in pairs.accepted[:20]]
    return {
        "events": pairs.events,
        "verdicts": pairs.verdicts,
        "accepted": len(pairs.accepted),
        "rejected": len(pairs.rejected),
        "held_out_as_golden": len(pairs.held_out),
        "feedback_file": dg.MetadataValue.path(str(feedback_path(pairs.database))),
        "pairs": dg.MetadataValue.md("| verdict | question | sql |\n|---|---|---|\n" + "\n".join(rows or ["| none | | |"])),
        "notes": "\n".join(pairs.notes) or "none",
    }


@dg.asset(kinds={"python"}, code_version=code_version(feedback, *VALIDATION_MODULES), **COMMON)
def feedback_pairs(context: dg.AssetExecutionContext, databases: DatabasesResource, db_metadata: Any) -> dg.Output:
    """Answers users marked correct or corrected (`nl2sql-ask`'s page and API), validated like any
    pair. They join raw_samples as `source: feedback` (train split only) and are written as
    golden-set candidates beside the feedback file (`<database>.golden_candidates.jsonl`); once a
    question is in the golden set (`$NL2SQL_HOME/golden/<database>.jsonl`), it is held out of training."""

    def compute(key: str) -> FeedbackPairs:
        folder = golden_folder()
        held = [g for g in read_golden_dir(folder) if g.database == key] if folder else []
        executor = audited_executor(context, databases.get(key), "feedback")
        pairs = validate_feedback(key, upstream(context, db_metadata, key), executor, golden=held)
        if pairs.accepted:
            atomic_write_text(feedback_path(key).with_suffix(".golden_candidates.jsonl"), golden_candidates(pairs))
        return pairs

    return per_partition_output(context, compute, _feedback_metadata)
