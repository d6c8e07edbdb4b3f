"""Step 6 per database: validation and its checks (the export that ends step 6: defs/export.py)."""

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg

from nl2sql_pipeline.core import chinese, execution, hardness, sql_template
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.semantics import index, legend, roles
from nl2sql_pipeline.core.validation import LAYERS, ValidatedSamples, validate_samples
from nl2sql_pipeline.core.validation import dedup, models, schema, semantic, semantic_sql, split, syntax, validator
from nl2sql_pipeline.defs.audit import audited_executor
from nl2sql_pipeline.defs.data_create import COMMON
from nl2sql_pipeline.defs.partitioned import partition_keys, per_partition_output, upstream
from nl2sql_pipeline.defs.settings import DatabasesResource
from nl2sql_pipeline.defs.versioning import code_version

VALIDATION_MODULES = (execution, hardness, sql_template, dedup, models, schema, split, syntax, validator, semantic,
                      semantic_sql, roles, index, legend, chinese)

# Warn (never block) below these: a generator that loses half its pairs needs a look.
MIN_PASS_RATE = 0.5
MAX_DUPLICATE_RATE = 0.3
MIN_TABLE_COVERAGE = 0.5
MAX_HARDNESS_DEVIATION = 0.25
CHECKS = {
    "pass_rate": "Share of generated pairs that pass syntax, schema and execution (per-layer rates in metadata).",
    "duplicate_rate": "Share of passing pairs dropped as duplicates (same template and question, or same result).",
    "hardness_mix": "Accepted pairs per Spider hardness level, against the configured synthesis.hardness_mix.",
    "table_coverage": "Share of the database's tables used by at least one accepted pair.",
}


def _md_table(header: str, rows: list[str]) -> dg.MetadataValue:
    return dg.MetadataValue.md(header + "\n" + "\n".join(rows or ["| none | |"]))


def _validated_metadata(validated: ValidatedSamples) -> Mapping[str, Any]:
    summary = validated.summary()
    rejections = validated.rejection_counts()
    examples = [
        f"| {v.failed_layer} | {v.sample.question} | `{v.sample.sql}` | {v.reason} |"
        for v in validated.items if v.failed_layer
    ][:8]
    return {
        "total": summary["total"],
        "accepted": summary["accepted"],
        "passed_syntax": summary["passed"]["syntax"],
        "passed_schema": summary["passed"]["schema"],
        "passed_execution": summary["passed"]["execution"],
        "passed_semantic": summary["passed"]["semantic"],
        "duplicates": summary["duplicates"],
        "empty_results": summary["empty"],
        "by_hardness": dict(sorted(summary["hardness"].items())),
        "by_split": dict(sorted(summary["split"].items())),
        "rejections_by_reason": _md_table("| reason | count |\n|---|---|", [f"| {r} | {n} |" for r, n in rejections.items()]),
        "rejected_examples": _md_table("| layer | question | sql | reason |\n|---|---|---|---|", examples),
    }


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def check_results(batches: list[ValidatedSamples], metas: list[SchemaMetadata],
                  targets: dict[str, float]) -> list[dg.AssetCheckResult]:
    """The four cheap checks over the partitions this run validated."""
    items = [v for b in batches for v in b.items]
    total = len(items)
    through = {layer: sum(b.passed_through(layer) for b in batches) for layer in LAYERS}
    passed = [v for v in items if v.passed]
    accepted = [v for v in items if v.accepted]
    duplicates = len(passed) - len(accepted)
    levels = Counter(v.hardness or "unknown" for v in accepted)
    shares = {level: _rate(levels.get(level, 0), len(accepted)) for level in targets}
    deviation = max((abs(shares[k] - targets[k]) for k in targets), default=0.0)
    tables = {t.name for m in metas for t in m.tables}
    covered = {t for v in accepted for t in v.tables} & tables
    coverage = _rate(len(covered), len(tables))
    pass_rate = _rate(through["execution"], total)
    warn = dg.AssetCheckSeverity.WARN
    return [
        dg.AssetCheckResult(
            check_name="pass_rate", passed=pass_rate >= MIN_PASS_RATE, severity=warn,
            metadata={"pass_rate": pass_rate, "minimum": MIN_PASS_RATE,
                      **{f"{layer}_pass_rate": _rate(through[layer], total) for layer in LAYERS}},
        ),
        dg.AssetCheckResult(
            check_name="duplicate_rate", passed=_rate(duplicates, len(passed)) <= MAX_DUPLICATE_RATE, severity=warn,
            metadata={"duplicate_rate": _rate(duplicates, len(passed)), "duplicates": duplicates,
                      "maximum": MAX_DUPLICATE_RATE},
        ),
        dg.AssetCheckResult(
            check_name="hardness_mix", passed=bool(accepted) and deviation <= MAX_HARDNESS_DEVIATION, severity=warn,
            metadata={"shares": shares, "targets": targets, "max_deviation": round(deviation, 4),
                      "allowed_deviation": MAX_HARDNESS_DEVIATION},
        ),
        dg.AssetCheckResult(
            check_name="table_coverage", passed=coverage >= MIN_TABLE_COVERAGE, severity=warn,
            metadata={"coverage": coverage, "minimum": MIN_TABLE_COVERAGE,
                      "uncovered_tables": ", ".join(sorted(tables - covered)) or "none"},
        ),
    ]


@dg.asset(
    kinds={"python", "sqlglot"},
    code_version=code_version(*VALIDATION_MODULES),
    check_specs=[dg.AssetCheckSpec(name, asset="validated_samples", description=d) for name, d in CHECKS.items()],
    **COMMON,
)
def validated_samples(context: dg.AssetExecutionContext, databases: DatabasesResource, raw_samples: Any,
                      db_metadata: Any) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Step 6: each pair through syntax, schema and read-only execution (first failing layer and why),
    then dedup, Spider hardness and a train/dev split with no SQL template on both sides."""

    def compute(key: str) -> ValidatedSamples:
        db = databases.get(key)
        return validate_samples(upstream(context, raw_samples, key), upstream(context, db_metadata, key),
                                audited_executor(context, db, "validation"), keep_empty=db.validation.keep_empty,
                                seed=db.synthesis.seed)

    output = per_partition_output(context, compute, _validated_metadata)
    keys = partition_keys(context)
    values = [output.value] if len(keys) == 1 and not context.has_partition_key_range else [output.value[k] for k in keys]
    metas = [upstream(context, db_metadata, k) for k in keys]
    targets: dict[str, float] = {}
    for key in keys:  # one target mix for the run: the average of the partitions' configured mixes
        for level, share in databases.get(key).synthesis.hardness_mix.items():
            targets[level] = targets.get(level, 0.0) + share / len(keys)
    yield output
    yield from check_results(values, metas, targets)
