"""Step 5 offline: SQL first (grammar over the FK graph, literals from real rows), then the question.

    raw = synthesize(plan, meta, executor_for(db), db)   # executor None: no sampling, no probing

Deterministic for a given seed, plan, schema and data. Every kept query has a new SQL template
(literals masked), the hardness Spider's rules give it, and, when an executor is given, it ran
without error and returned rows (empty results only for tables without rows).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from nl2sql_pipeline.core.config import DatabaseConfig, SynthesisConfig
from nl2sql_pipeline.core.errors import ConfigError
from nl2sql_pipeline.core.hardness import HARDNESS_LEVELS, hardness_counts
from nl2sql_pipeline.core.planning import mostly_chinese
from nl2sql_pipeline.core.samples import Language, RawSamples, Sample, Topic, TopicPlan
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.semantics import SemanticIndex
from nl2sql_pipeline.core.sql_template import sql_template
from nl2sql_pipeline.core.synthesis.grammar import Ctx
from nl2sql_pipeline.core.synthesis.ir import Agg, Compound, Query, Tree
from nl2sql_pipeline.core.synthesis.phrasing import STYLES, facets
from nl2sql_pipeline.core.synthesis.recipes import MULTI_TABLE, RECIPES
from nl2sql_pipeline.core.synthesis.render_sql import Renderer
from nl2sql_pipeline.core.synthesis.schema import TableView, topic_views
from nl2sql_pipeline.core.synthesis.text_en import English
from nl2sql_pipeline.core.synthesis.text_zh import Chinese
from nl2sql_pipeline.core.synthesis.tidy import (
    distinct_through_fanout, fixed_output, multi_table, prune_joins, state_tie_breaker,
)
from nl2sql_pipeline.core.synthesis.values import Executor, ValueSource
from nl2sql_pipeline.core.validation.semantic import SemanticChecker

ATTEMPTS_PER_SAMPLE = 30
PROBE_ROWS = 50


def question_language(meta: SchemaMetadata, db: DatabaseConfig | None) -> Language:
    """The configured language, else Chinese when most comments are Chinese, else English."""
    if db is not None and db.language:
        return db.language
    texts = [t.comment or "" for t in meta.tables] + [c.comment or "" for t in meta.tables for c in t.columns]
    return "zh" if mostly_chinese(texts) else "en"


def apportion(total: int, mix: dict[str, float]) -> dict[str, int]:
    """Per-hardness counts summing to `total` (largest remainder), in HARDNESS_LEVELS order."""
    weights = {h: max(mix.get(h, 0.0), 0.0) for h in HARDNESS_LEVELS}
    wsum = sum(weights.values()) or 1.0
    shares = {h: total * w / wsum for h, w in weights.items()}
    counts = {h: int(s) for h, s in shares.items()}
    for h in sorted(HARDNESS_LEVELS, key=lambda h: (-(shares[h] - counts[h]), HARDNESS_LEVELS.index(h)))[: total - sum(counts.values())]:
        counts[h] += 1
    return counts


@dataclass
class _Run:
    """State shared by all topics of one database: templates seen, rejection reasons."""

    dialect: str
    language: Language
    values: ValueSource
    executor: Executor | None
    seed: int
    checker: SemanticChecker | None = None
    single_cap: int | None = None  # single-table pairs allowed when the schema has joinable tables
    seen: set[str] = field(default_factory=set)
    rejected: Counter = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    views_by_topic: dict[str, dict[str, TableView]] = field(default_factory=dict)

    # single-table pairs above the easy level kept so far (easy ones read one table by Spider's rules)
    singles: int = 0


def _rows_certain(tree: Tree, views: dict[str, TableView]) -> bool:
    """Rows without running it: a plain aggregate, or one table whose filters a real row passes."""
    if isinstance(tree, Compound):
        return tree.op == "union" and _rows_certain(tree.left, views)
    if not tree.where and not tree.group and all(isinstance(i, Agg) for i in tree.select):
        return True
    if tree.having or tree.joins:
        return False
    kept = [c.kept for c in tree.where]
    return bool(views[tree.table].row_count) and (all(kept) if tree.conj == "and" else any(kept))


def _fill(run: _Run, topic: Topic, database: str, quotas: dict[str, int], need: int, salt: str) -> int:
    """Generate up to `need` samples for `topic`, honouring `quotas` (relaxed in the last third)."""
    views = {n: v for n, v in run.views_by_topic[topic.name].items() if v.columns}
    if not views or need <= 0:
        return 0
    rng = random.Random(f"{run.seed}:{database}:{topic.name}:{salt}")
    renderer = Renderer(run.dialect)
    writer = (Chinese if run.language == "zh" else English)(views, rng)
    anchors = sorted(views)
    expect_rows = run.executor is not None and any(v.row_count for v in views.values())
    made, attempts, limit = 0, 0, ATTEMPTS_PER_SAMPLE * need + 50
    while made < need and attempts < limit:
        attempts += 1
        relaxed = attempts > limit * 2 // 3
        open_levels = [h for h in HARDNESS_LEVELS if quotas[h] > 0] or list(HARDNESS_LEVELS)
        target = rng.choices(open_levels, [max(quotas[h], 1) for h in open_levels])[0]
        ctx = Ctx(views=views, values=run.values, rng=rng, anchor=anchors[attempts % len(anchors)])
        pool = RECIPES[target]
        # Easy queries read one table (Spider counts a join as a component); the other levels
        # lean on joins and subqueries so that single-table pairs stay at most half.
        if run.single_cap is not None and len(views) > 1 and target != "easy" and (
                run.singles >= run.single_cap or rng.random() < 0.8):
            pool = [r for r in pool if r.__name__ in MULTI_TABLE] or pool
        recipe = rng.choice(pool)
        tree = recipe(ctx)
        if tree is None:
            run.rejected["recipe does not fit the tables"] += 1
            continue
        prune_joins(tree, views)
        if fixed_output(tree):
            run.rejected["shows a value its filter fixes"] += 1
            continue
        if not distinct_through_fanout(tree, views):
            run.rejected["ordered by a row the question cannot name"] += 1
            continue
        multi = multi_table(tree)

        def admit(level: str) -> str | None:  # before anything runs: quotas and the single-table share
            if not multi and level != "easy" and run.single_cap is not None and run.singles >= run.single_cap \
                    and not relaxed:
                return "single-table share full"
            return f"hardness {level} already full" if quotas[level] <= 0 and not relaxed else None

        got = _checked(run, tree, renderer, writer, rng, database, topic.name, relaxed, expect_rows, views, admit)
        if got is None:
            continue
        sample, key, level = got
        run.seen.add(key)
        quotas[level] = max(quotas[level] - 1, 0)
        made += 1
        sample.meta.update(recipe=recipe.__name__, multi_table=multi)
        run.samples.append(sample)
        run.singles += not multi and level != "easy"
    return made


def _checked(run: _Run, tree: Tree, renderer: Renderer, writer: Chinese | English, rng: random.Random,
             database: str, topic: str, relaxed: bool, expect_rows: bool, views: dict[str, TableView],
             admit: Callable[[str], str | None]) -> tuple[Sample, str, str] | None:
    """Render, probe and semantically check one tree (repairing a tie by a stated tie-breaker);
    (sample, template key, hardness) or None with the reason counted."""
    if run.executor is None and isinstance(tree, Query) and len(tree.order) == 1 and not state_tie_breaker(tree):
        # No data to look for ties in: order only where the question can state a tie-breaker.
        run.rejected["determinism: no tie-breaker to state (synthesis)"] += 1
        return None
    for attempt in (0, 1):
        expression = renderer.tree(tree)
        sql = renderer.sql(expression)
        key = sql_template(expression, run.dialect, rows_only=True)  # both sort directions: one question
        if key in run.seen:
            run.rejected["duplicate template"] += 1
            return None
        level = hardness_counts(expression).level  # the built tree: no second parse
        if (refused := admit(level)) is not None:
            run.rejected[refused] += 1
            return None
        style = rng.choice(STYLES)
        question, unsaid = writer.write(tree, style)
        if unsaid:
            run.rejected["faithfulness: the question leaves a part of the query unsaid"] += 1
            return None
        sample = Sample(database=database, topic=topic, question=question, sql=sql, language=run.language,
                        source="offline", hardness=level,
                        meta={"tables": sorted(set(tree.tables)), "probe_rows": None, "style": style,
                              "facets": facets(tree), "said": sorted(writer.said)})
        pending = run.checker.inspect(sample, expression, built=True) if run.checker is not None else None
        if pending is not None and pending.reason:
            run.rejected[pending.reason.split(":")[0] + " (synthesis)"] += 1
            return None
        if run.executor is None:
            return sample, key, level
        result = ordered = None
        facts = pending.facts if pending is not None else None
        joins_unused = facts is not None and bool(facts.unused_joins)
        if facts is not None and facts.tie_variants and not joins_unused:
            # The query with its ties ordered both probes it and starts the tie check: one run, not two.
            result = ordered = run.executor.execute(facts.tie_variants[0])
        elif not _rows_certain(tree, views) or joins_unused:
            result = run.executor.execute(sql, row_cap=None if joins_unused else PROBE_ROWS)
        if result is not None:
            if not result.ok:
                run.rejected[f"probe failed: {result.error_kind}"] += 1
                return None
            sample.meta["probe_rows"] = min(result.row_count, PROBE_ROWS)
            if expect_rows and result.row_count == 0 and not (relaxed and rng.random() < 0.1):
                run.rejected["probe returned no rows"] += 1
                return None
        reason = run.checker.verdict(pending, result, sample, ordered) if pending is not None else None
        if reason is None:
            return sample, key, level
        if attempt == 0 and reason.startswith("determinism") and state_tie_breaker(tree):
            continue  # the question now states how ties are ordered; check again
        run.rejected[reason.split(":")[0] + " (synthesis)"] += 1
        return None
    return None


def synthesize(plan: TopicPlan, meta: SchemaMetadata, executor: Executor | None,
               db: DatabaseConfig | None = None, *, probe: bool = True) -> RawSamples:
    """NL/SQL pairs for every topic of `plan`, `topic.count` each where the schema allows.

    `executor` (core.execution.ReadOnlyExecutor) samples values and, with `probe`, runs each
    candidate once, dropping failures and (where the tables have rows) empty results; None gives
    value-free conditions and no probing. `db` supplies language, seed, hardness mix and
    which columns may be sampled (`synthesis.sample_values`, `synthesis.no_sample`).
    """
    cfg = db.synthesis if db is not None else SynthesisConfig()
    if sum(max(w, 0.0) for w in cfg.hardness_mix.values()) <= 0 or min(cfg.hardness_mix.values(), default=0) < 0:
        raise ConfigError(
            f"Database {meta.database!r}: synthesis.hardness_mix {cfg.hardness_mix} has no positive weight "
            "(or a negative one).",
            "give each of easy, medium, hard, extra a weight >= 0, at least one above 0, "
            "e.g. {easy: 0.25, medium: 0.3, hard: 0.25, extra: 0.2}.",
        )
    language = question_language(meta, db)
    allowed = db.may_sample if db is not None else (lambda table, column: True)
    values = ValueSource(executor, meta.dialect, allowed)
    semantics = SemanticIndex.build(meta, executor)
    run = _Run(dialect=meta.dialect, language=language, values=values, executor=executor if probe else None, seed=cfg.seed,
               views_by_topic={t.name: topic_views(meta, t.tables, language, semantics) for t in plan.topics},
               checker=SemanticChecker(meta, meta.dialect, executor, semantics))
    global_quota = apportion(sum(t.count for t in plan.topics), cfg.hardness_mix)
    joinable = any(len(v) > 1 and any(view.steps for view in v.values()) for v in run.views_by_topic.values())
    # Single-table pairs at most half where tables join (more only if the mix asks for more easy ones).
    run.single_cap = max(sum(t.count for t in plan.topics) // 2 - global_quota["easy"], 0) if joinable else None
    notes: list[str] = []
    shortfall = 0
    remaining = dict(global_quota)
    for topic in plan.topics:  # topics share the database's quotas, so rounding never drifts
        quotas = apportion(topic.count, {h: float(n) for h, n in remaining.items()})
        remaining = {h: remaining[h] - quotas[h] for h in HARDNESS_LEVELS}
        made = _fill(run, topic, plan.database, quotas, topic.count, "main")
        if made < topic.count:
            notes.append(f"topic {topic.name!r}: {made} of {topic.count} samples (its tables allow no more distinct queries)")
            shortfall += topic.count - made
    if shortfall:  # other topics make up what small ones could not
        have = Counter(s.hardness for s in run.samples)
        quotas = {h: max(global_quota[h] - have[h], 0) for h in HARDNESS_LEVELS}
        for topic in sorted(plan.topics, key=lambda t: -len(t.tables)):
            shortfall -= _fill(run, topic, plan.database, quotas, shortfall, "top-up")
        if shortfall:
            notes.append(f"{shortfall} samples short of the budget: the schema allows no more distinct queries")
    notes += [f"value sampling: {f}" for f in values.failures]
    notes += [f"rejected candidates: {reason}: {n}" for reason, n in run.rejected.most_common()]
    return RawSamples(database=plan.database, dialect=meta.dialect, samples=run.samples, notes=notes)
