"""The `logged_queries` core: the company's SQL -> validated, hardness-labelled, weighted pairs.

    logged = logged_queries(db, meta, executor)                 # offline questions
    logged = logged_queries(db, meta, executor, questions=ask)  # LLM back-translation first

Statements are read from every configured source, split, classified (anything that is not one
side-effect-free query is dropped with its reason before anything could run it), grouped by
template (counts summed), parameter-filled from real rows, and validated by the same entry
point as generated pairs (`core.validation.validate_samples`). Questions: the human one when
the source has it, else `questions` (the LLM), else the offline renderer; a statement with no
question is dropped with the shape the renderer cannot express.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from nl2sql_pipeline.core.chinese import mostly_chinese
from nl2sql_pipeline.core.config import DatabaseConfig
from nl2sql_pipeline.core.execution import ReadOnlyExecutor, parse_query
from nl2sql_pipeline.core.querylog import sources
from nl2sql_pipeline.core.querylog.models import LOG_TOPIC, DroppedStatement, LoggedQueries, LoggedStatement
from nl2sql_pipeline.core.querylog.normalize import Template, classify, group_by_template, respell
from nl2sql_pipeline.core.querylog.params import ParameterError, fill_parameters, parameters
from nl2sql_pipeline.core.querylog.to_question import offline_question
from nl2sql_pipeline.core.samples import RawSamples, Sample
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.synthesis.synthesizer import question_language
from nl2sql_pipeline.core.validation import reason_category, validate_samples
from nl2sql_pipeline.core.validation.syntax import tables_used

# (pairs without a question) -> one question or None per pair, e.g. the llm-sql-first path
QuestionWriter = Callable[[list[Sample]], list[str | None]]


def read_statements(db: DatabaseConfig, dialect: str, executor: ReadOnlyExecutor | None
                    ) -> tuple[list[LoggedStatement], list[DroppedStatement], dict[str, int], list[str]]:
    cfg = db.query_log
    statements: list[LoggedStatement] = []
    dropped: list[DroppedStatement] = []
    read: dict[str, int] = {}
    notes: list[str] = []
    if cfg is None:
        return statements, dropped, read, notes
    if cfg.sql_dir:
        found, bad = sources.read_sql_dir(cfg.sql_dir, dialect)
        statements += found
        dropped += bad
        read["sql_dir"] = len(found)
    if cfg.file:
        found = sources.read_log_file(cfg.file)
        statements += found
        read["file"] = len(found)
    for flag, reader, wanted in (("pg_stat_statements", sources.read_pg_stat_statements, "postgres"),
                                 ("performance_schema", sources.read_performance_schema, "mysql")):
        if not getattr(cfg, flag):
            continue
        if dialect != wanted or executor is None:
            why = "no database connection" if executor is None else f"this database is {dialect} (it is for {wanted})"
            notes.append(f"{flag}: skipped, {why}")
            continue
        found, said = reader(executor, cfg.min_count)
        statements += found
        notes += said
        read[flag] = len(found)
    return statements, dropped, read, notes


def _queries(statements: list[LoggedStatement], meta: SchemaMetadata, dropped: list[DroppedStatement]) -> list[Template]:
    dialect = meta.dialect
    names = {t.name.lower(): t.name for t in meta.tables}
    kept = []
    for stmt in statements:
        if stmt.placeholders and stmt.sql.rstrip().endswith("..."):
            dropped.append(DroppedStatement(origin=stmt.origin, reason="truncated digest text", sql=stmt.sql[:200]))
            continue
        verdict = classify(stmt.sql, dialect)
        if verdict.tree is None:
            dropped.append(DroppedStatement(origin=stmt.origin, reason=verdict.reason or "rejected",
                                            detail=verdict.detail[:300], sql=stmt.sql[:200]))
            continue
        if not tables_used(verdict.tree, names):  # `SELECT version()`, catalog reads of drivers and tools
            dropped.append(DroppedStatement(origin=stmt.origin, reason="not about the data: reads no table of the schema",
                                            sql=stmt.sql[:200]))
            continue
        kept.append((stmt, respell(verdict.tree, meta)))
    return group_by_template(kept, dialect)


def _candidates(templates: list[Template], db: DatabaseConfig, meta: SchemaMetadata, executor: ReadOnlyExecutor | None,
                language: str, dropped: list[DroppedStatement]) -> list[Sample]:
    out = []
    for t in templates:
        try:
            tree = fill_parameters(t.tree, meta, executor, meta.dialect, db.may_sample, seed=t.key)
        except ParameterError as err:
            dropped.append(DroppedStatement(origin=t.statement.origin, reason=str(err), sql=t.statement.sql[:200]))
            continue
        sql = tree.sql(dialect=meta.dialect, comments=False)
        human = t.statement.question
        # A human question keeps its own language (an English report question on a Chinese schema).
        own = language if not human else "zh" if mostly_chinese([human]) else "en"
        out.append(Sample(
            database=db.name, topic=LOG_TOPIC, question=human or "", sql=sql, language=own,  # type: ignore[arg-type]
            source="log", meta={"count": t.count, "variants": t.variants, "origin": t.statement.origin,
                                "question_source": "human" if t.statement.question else None,
                                "parameters_filled": bool(parameters(t.tree))}))
    return out


def logged_queries(db: DatabaseConfig, meta: SchemaMetadata, executor: ReadOnlyExecutor | None, *,
                   questions: QuestionWriter | None = None) -> LoggedQueries:
    """Every configured source of `db` as validated pairs, most frequent first (see the module doc)."""
    statements, dropped, read, notes = read_statements(db, meta.dialect, executor)
    found = pairs_from(statements, db, meta, executor, questions=questions, dropped=dropped)
    return found.model_copy(update={"read": read, "notes": notes})


def _validated(candidates: list[Sample], db: DatabaseConfig, meta: SchemaMetadata, executor: ReadOnlyExecutor | None,
               dropped: list[DroppedStatement]) -> list[Sample]:
    """The candidates that pass the shared validation, hardness-labelled; the rest dropped with why."""
    # Validation's duplicate rule compares questions; a unique stand-in keeps question-less pairs apart.
    probe = [c.model_copy(update={"question": c.question or f"\x00{i}"}) for i, c in enumerate(candidates)]
    validated = validate_samples(RawSamples(database=db.name, dialect=meta.dialect, samples=probe), meta, executor,
                                 keep_empty=db.validation.keep_empty, seed=db.synthesis.seed)
    passed = []
    for cand, item in zip(candidates, validated.items, strict=True):
        origin = str(cand.meta["origin"])
        if item.failed_layer:
            dropped.append(DroppedStatement(origin=origin, reason=reason_category(item.failed_layer, item.reason or ""),
                                            detail=(item.reason or "")[:300], sql=cand.sql[:200]))
        elif item.duplicate_of is not None:
            dropped.append(DroppedStatement(origin=origin, reason=f"duplicate: {item.duplicate_reason}", sql=cand.sql[:200]))
        else:
            passed.append(cand.model_copy(update={"hardness": item.hardness}))
    return passed


def _with_questions(passed: list[Sample], meta: SchemaMetadata, language: str, questions: QuestionWriter | None,
                    dropped: list[DroppedStatement], unrenderable: Counter) -> list[Sample]:
    """Human question, else the writer's (LLM), else the offline renderer's; none: dropped with the shape."""
    dialect = meta.dialect
    needing = [s for s in passed if not s.question]
    asked = dict(zip((id(s) for s in needing), questions(needing))) if questions and needing else {}
    pairs = []
    for sample in passed:
        question, origin = sample.question, sample.meta["question_source"]
        if not question and asked.get(id(sample)):
            question, origin = asked[id(sample)], "llm"
        if not question:
            tree = parse_query(sample.sql, dialect)[0]  # parsed again: validation consumed its tree
            question, shape = offline_question(tree, meta, dialect, language) if tree is not None else (None, "does not parse")
            origin = "rule"
            if question is None:
                unrenderable[shape] += 1
                dropped.append(DroppedStatement(origin=str(sample.meta["origin"]), reason=f"no question: {shape}",
                                                sql=sample.sql[:200]))
                continue
        pairs.append(sample.model_copy(update={"question": question, "meta": {**sample.meta, "question_source": origin}}))
    return pairs


def pairs_from(statements: list[LoggedStatement], db: DatabaseConfig, meta: SchemaMetadata,
               executor: ReadOnlyExecutor | None, *, questions: QuestionWriter | None = None,
               dropped: list[DroppedStatement] | None = None) -> LoggedQueries:
    """Statements (from any source) -> classified, deduplicated, filled, validated pairs with questions."""
    dropped = list(dropped or [])
    templates = _queries(statements, meta, dropped)
    language = question_language(meta, db)
    passed = _validated(_candidates(templates, db, meta, executor, language, dropped), db, meta, executor, dropped)
    unrenderable: Counter = Counter()
    pairs = _with_questions(passed, meta, language, questions, dropped, unrenderable)
    total = sum(int(p.meta["count"]) for p in pairs) or 1
    pairs = [p.model_copy(update={"meta": {**p.meta, "weight": round(int(p.meta["count"]) / total, 6)}}) for p in pairs]
    return LoggedQueries(database=db.name, dialect=meta.dialect, pairs=pairs, dropped=dropped, templates=len(templates),
                         question_sources=dict(Counter(str(p.meta["question_source"]) for p in pairs)),
                         unrenderable=dict(unrenderable))
