"""Step 6: run every generated pair through syntax, schema and execution, then dedup and split."""

from __future__ import annotations

from sqlglot.errors import SqlglotError

from nl2sql_pipeline.core.execution import ReadOnlyExecutor
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.sql_template import template_and_literals
from nl2sql_pipeline.core.validation.dedup import find_duplicates, result_fingerprint
from nl2sql_pipeline.core.validation.models import ValidatedSample, ValidatedSamples
from nl2sql_pipeline.core.validation.schema import SchemaIndex, unresolved
from nl2sql_pipeline.core.validation.semantic import SemanticChecker
from nl2sql_pipeline.core.validation.split import split_by_template
from nl2sql_pipeline.core.validation.syntax import hardness_of, parse_query, tables_used


def check_sample(
    sample: Sample,
    index: SchemaIndex,
    names: dict[str, str],
    dialect: str,
    executor: ReadOnlyExecutor | None,
    *,
    keep_empty: bool = True,
    semantic: SemanticChecker | None = None,
) -> ValidatedSample:
    """The layers for one pair; `executor=None` stops after layer 2 (benchmarks, dry runs);
    `semantic` adds layer 4 (core.validation.semantic) after execution.

    Never raises: the gate's limits keep sqlglot's recursion safe, and whatever still goes wrong
    on untrusted text is this pair's failure, not the run's."""
    try:
        return _check_sample(sample, index, names, dialect, executor, keep_empty=keep_empty, semantic=semantic)
    except (RecursionError, MemoryError) as err:
        reason = f"the query is too deeply nested or too large to check ({type(err).__name__})"
    except Exception as err:  # noqa: BLE001 - one pair's bad text must not end the run
        reason = f"the query could not be checked ({type(err).__name__})"
    return ValidatedSample(sample=sample, passed=False, failed_layer="syntax", reason=reason)


def _check_sample(
    sample: Sample,
    index: SchemaIndex,
    names: dict[str, str],
    dialect: str,
    executor: ReadOnlyExecutor | None,
    *,
    keep_empty: bool,
    semantic: SemanticChecker | None,
) -> ValidatedSample:
    tree, verdict = _parsed(sample.sql, dialect, executor)
    if tree is None:
        return ValidatedSample(sample=sample, passed=False, failed_layer="syntax", reason=verdict.reason)
    try:
        problems = unresolved(tree, index, dialect)
    except SqlglotError as err:  # scope building refuses some trees (e.g. ambiguous set operations)
        problems = [f"cannot resolve names: {str(err).splitlines()[0][:200]}"]
    facts: dict = {"tables": tables_used(tree, names), "hardness": hardness_of(tree)}
    pending = semantic.inspect(sample, tree) if semantic is not None and not problems and executor is not None else None
    facts["template"], facts["literals"] = template_and_literals(tree, dialect)  # consumes the tree: last
    if problems:
        return ValidatedSample(sample=sample, passed=False, failed_layer="schema", reason="; ".join(problems), **facts)
    if executor is None:
        return ValidatedSample(sample=sample, passed=True, **facts)
    result, ordered = _run(sample.sql, pending, executor)
    if not result.ok:
        reason = f"{result.error_kind}: {result.error}"
        return ValidatedSample(sample=sample, passed=False, failed_layer="execution", reason=reason, **facts)
    counts = {
        "row_count": result.row_count,
        "column_count": len(result.columns),
        "empty": result.row_count == 0,
        "truncated": result.truncated,
        "result_fingerprint": result_fingerprint(len(result.columns), result.rows),
    }
    if counts["empty"] and not keep_empty:
        reason = "empty result (validation.keep_empty is false)"
        return ValidatedSample(sample=sample, passed=False, failed_layer="execution", reason=reason, **facts, **counts)
    if pending is not None and (reason := semantic.verdict(pending, result, sample, ordered)):
        return ValidatedSample(sample=sample, passed=False, failed_layer="semantic", reason=reason, **facts, **counts)
    return ValidatedSample(sample=sample, passed=True, **facts, **counts)


def _parsed(sql: str, dialect: str, executor: ReadOnlyExecutor | None) -> tuple[object, object]:
    """Layer 1: the gate's own reading. Through the executor that will run the query where it
    reads it the same way, so a query the synthesizer probed
    costs a tree copy instead of a second parse; the copy is ours to change."""
    if executor is None or not executor.reads_as(dialect):
        return parse_query(sql, dialect)
    kept, verdict = executor.checked(sql)
    return (kept.copy() if kept is not None else None), verdict


def _run(sql: str, pending: object, executor: ReadOnlyExecutor) -> tuple[object, object]:
    """(the query's result, the first tie variant's or None). A query whose ties layer 4 checks
    runs as that variant, the ORDER BY extended by every output column: where the pair passes,
    its rows are the query's own, and the tie check needs that run anyway (one execution saved)."""
    facts = getattr(pending, "facts", None)
    if facts is not None and not pending.reason and facts.tie_variants and not facts.unused_joins:
        ordered = executor.execute(facts.tie_variants[0])
        if ordered.ok:
            return ordered, ordered
    return executor.execute(sql), None


def validate_samples(
    raw: RawSamples,
    meta: SchemaMetadata,
    executor: ReadOnlyExecutor | None,
    *,
    keep_empty: bool = True,
    dev_ratio: float = 0.1,
    seed: int = 0,
    semantic_layer: bool = True,
) -> ValidatedSamples:
    """Validate, deduplicate, label hardness and split one database's generated pairs
    (`semantic_layer=False` skips layer 4, for measuring its cost)."""
    dialect = raw.dialect or meta.dialect
    index = SchemaIndex.of(meta)
    names = {t.name.lower(): t.name for t in meta.tables}
    semantic = SemanticChecker(meta, dialect, executor) if executor is not None and semantic_layer else None
    items = [check_sample(s, index, names, dialect, executor, keep_empty=keep_empty, semantic=semantic)
             for s in raw.samples]
    passed = [i for i, v in enumerate(items) if v.passed]
    keys = [
        (items[i].template, "\x00".join(items[i].literals), None if items[i].empty else items[i].result_fingerprint,
         items[i].sample.question)
        for i in passed
    ]
    for local, (kept, why) in find_duplicates(keys).items():
        items[passed[local]].duplicate_of = passed[kept]
        items[passed[local]].duplicate_reason = why
    accepted = [v for v in items if v.accepted]
    labels = split_by_template([v.template or "" for v in accepted], dev_ratio=dev_ratio, seed=seed,
                               train_only=[v.sample.source == "feedback" for v in accepted])
    for item, label in zip(accepted, labels):
        item.split = label
    return ValidatedSamples(database=raw.database, dialect=dialect, items=items, keep_empty=keep_empty, notes=list(raw.notes))
