"""Layer 4, after execution: is the pair right in meaning? For every generator (offline, llm,
llm-sql-first), each rejection with its reason:

- determinism: the result must not depend on tie-breaking or physical row order: ORDER BY is
  extended by every output column ascending and descending and both results must agree; a
  LIMIT without ORDER BY must not cut a longer result;
- code misuse: SUM/AVG/MIN/MAX, arithmetic or order comparisons on category, flag or identifier
  columns; a coded value the question names by its code instead of its meaning;
- unexpressed joins: a joined table that no clause uses, the question does not name, and whose
  join changes the result (filters or multiplies rows);
- faithfulness (offline pairs): every selected column, filter, aggregate, grouping, ordering and
  limit of the synthesizer's tree was said by the question (its own record, not a text search);
- wording: repeated words or labels, a legend or raw comment pasted, identifier fragments in a
  Chinese question.

    checker = SemanticChecker(meta, "sqlite", executor)
    pending = checker.inspect(sample, tree)        # before the tree is consumed
    reason = checker.verdict(pending, result)      # after execution: None when the pair is right
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from nl2sql_pipeline.core.chinese import HAN, has_chinese
from nl2sql_pipeline.core.samples import Sample
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.semantics import SemanticIndex
from nl2sql_pipeline.core.validation.semantic_sql import Catalog, ColumnUse, SqlFacts, analyse_sql, ordering_facts

_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"|'[^']*'|‘[^’]*’|「[^」]*」")
# A word said twice in a row (员工员工, 部门部门); `电子发票的发票` is a value and its entity, not a stutter.
_ZH_REPEAT = re.compile(r"((?:(?!的)[" + HAN + r"]){2,6})\1|的的")
_EN_REPEAT = re.compile(r"\b([A-Za-z]{2,})\s+\1\b", re.IGNORECASE)
_IDENT = re.compile(r"(?<![A-Za-z0-9_])(?:[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+|[a-z]+[A-Z][A-Za-z0-9]*)(?![A-Za-z0-9_])")
_CODED_ROLES = ("category", "flag", "identifier")
FULL_ROWS = 20_000
CHECKS = ("determinism", "code misuse", "unexpressed join", "faithfulness", "wording")


@dataclass
class Pending:
    """What `inspect` found before execution: a reason already, or queries still to run."""

    reason: str | None
    facts: SqlFacts | None = None


def _rows(result: Any) -> list[tuple]:
    return [tuple(r) for r in result.rows]


class SemanticChecker:
    def __init__(self, meta: SchemaMetadata, dialect: str, executor: Any,
                 semantics: SemanticIndex | None = None) -> None:
        self.meta, self.dialect, self.executor = meta, dialect, executor
        self.semantics = semantics or SemanticIndex.build(meta, executor)
        self.catalog = Catalog.of(meta)
        self._paste_cache: dict[tuple[str, str], tuple[re.Pattern | None, str | None]] = {}

    # ---- static, before execution ---------------------------------------------------------

    def inspect(self, sample: Sample, tree: exp.Expression, *, built: bool = False) -> Pending:
        """`built`: the synthesizer's own tree, which uses codes and joins rightly by construction
        (the tests audit that): only wording, faithfulness and ties are checked, cheaply."""
        try:
            facts = ordering_facts(tree, self.dialect) if built else analyse_sql(
                tree, self.catalog, self.dialect, lambda table: self._named(table, sample.question))
        except Exception as err:  # an odd shape: say so rather than guess its meaning
            return Pending(f"wording: cannot analyse the query's meaning ({str(err)[:80]})")
        if built:
            return Pending(self._wording(sample, facts, tree) or self._faithfulness(sample), facts)
        if not re.search(r"[^\W\d_]", sample.question):  # no words yet (a logged query's stand-in): the SQL only
            return Pending(self._code_misuse(sample, facts, sql_only=True), facts)
        reason = self._code_misuse(sample, facts) or self._wording(sample, facts) or self._faithfulness(sample)
        return Pending(reason, facts)

    def _code_misuse(self, sample: Sample, facts: SqlFacts, sql_only: bool = False) -> str | None:
        for what, use in facts.misuse:
            sem = self.semantics.column(use.table, use.column)
            if sem is not None and sem.role in _CODED_ROLES:
                return f"code misuse: {what} on {use.table}.{use.column}, a {sem.role} column"
        if sql_only:
            return None
        question = sample.question.lower()
        for use, literals in facts.equalities:
            sem = self.semantics.column(use.table, use.column)
            if sem is None or not sem.coded:
                continue
            for value in literals:
                meaning = sem.meaning(value)
                if meaning and meaning.lower() not in question and not _yes_no_said(sem, value, question):
                    return (f"code misuse: the question does not say what code {value!r} of {use.table}.{use.column} "
                            f"means ({meaning})")
        return None

    def _wording(self, sample: Sample, facts: SqlFacts, tree: exp.Expression | None = None) -> str | None:
        text = _QUOTED.sub(" ", sample.question)
        if tree is not None:  # a built tree: its columns without resolving aliases
            facts.columns = [ColumnUse(t, c.name, c) for c in tree.find_all(exp.Column)
                             if (t := self._owner(c, tree)) is not None]
        if sample.language == "zh" or has_chinese(text):
            if m := _ZH_REPEAT.search(text):
                return f"wording: repeated words {m.group(0)!r}"
            if m := _IDENT.search(text):
                return f"wording: identifier fragment {m.group(0)!r} in a Chinese question"
            names = {u.column.lower() for u in facts.columns} | {u.table.lower() for u in facts.columns}
            for word in re.findall(r"[A-Za-z]{3,}", text):
                if word.lower() in names and not self.semantics.table_label(word):
                    return f"wording: identifier {word!r} in a Chinese question"
        elif m := _EN_REPEAT.search(text):
            return f"wording: repeated word {m.group(0)!r}"
        for key in dict.fromkeys((u.table, u.column) for u in facts.columns):
            legend, comment = self._pastes(key)
            if legend is not None and len(legend.findall(sample.question)) >= 2:
                return f"wording: the legend of {key[0]}.{key[1]} is pasted into the question"
            if comment is not None and comment in sample.question:
                return f"wording: the raw comment of {key[0]}.{key[1]} is pasted into the question"
        return None

    def _owner(self, col: exp.Column, tree: exp.Expression) -> str | None:
        for table in tree.find_all(exp.Table):
            if (col.table and (table.alias_or_name or "").lower() == col.table.lower()) or (
                    not col.table and col.name.lower() in self.catalog.columns.get(table.name.lower(), {})):
                return self.catalog.tables.get(table.name.lower())
        return None

    def _pastes(self, key: tuple[str, str]) -> tuple[re.Pattern | None, str | None]:
        """(a pattern matching one `code meaning` item of the column's legend, its raw comment when
        that is more than the label), worked out once per column."""
        if key not in self._paste_cache:
            sem = self.semantics.column(*key)
            info = self.meta.table(key[0])
            col = info.column(key[1]) if info else None
            legend = comment = None
            if sem is not None and col is not None and col.comment:
                if sem.values and sem.coded:
                    legend = re.compile("|".join(rf"(?<![0-9A-Za-z]){re.escape(c)}\s*[=:：\-]?\s*{re.escape(m)}"
                                                 for c, m in sem.values))
                if sem.label and col.comment.strip() != sem.label:
                    comment = col.comment.strip()
            self._paste_cache[key] = (legend, comment)
        return self._paste_cache[key]

    def _faithfulness(self, sample: Sample) -> str | None:
        facets = sample.meta.get("facets")
        if facets is None:
            return None
        missing = [f for f in facets if f not in set(sample.meta.get("said", []))]
        return f"faithfulness: the question does not express {', '.join(missing[:3])}" if missing else None

    # ---- after execution --------------------------------------------------------------------

    def verdict(self, pending: Pending, result: Any, sample: Sample, ordered: Any = None) -> str | None:
        """Layer 4's reason to reject, or None; `result` (the query's own execution) is needed
        only when the query joins tables no clause uses; `ordered`, when given, is the result of
        the first tie variant, already run."""
        if pending.reason or pending.facts is None:
            return pending.reason
        facts = pending.facts
        if facts.unused_joins and facts.without_unused and result is not None:
            unnamed = facts.unused_joins  # tables the question names were kept as used
            if unnamed:
                alone = self.executor.execute(facts.without_unused)
                if alone.ok and Counter(_rows(alone)) != Counter(_rows(result)):
                    more = "multiplies" if alone.row_count < result.row_count else "filters"
                    return (f"unexpressed join: joining {', '.join(unnamed)} {more} rows the question does not ask for "
                            f"({result.row_count} rows with it, {alone.row_count} without)")
        return tie_dependence(self.executor, facts, ordered)

    def _named(self, table: str, question: str) -> bool:
        label = self.semantics.table_label(table)
        words = [table.lower(), table.lower().replace("_", " "), table.lower().rstrip("s")]
        low = question.lower()
        return bool(label and label.lower() in low) or any(w and w in low for w in words)


def tie_dependence(executor: Any, facts: SqlFacts, up: Any = None) -> str | None:
    """Why the result depends on tie-breaking or physical order, or None (`up`: the first tie
    variant's result when the caller ran it already)."""
    if facts.distinct_order:
        return "determinism: SELECT DISTINCT ordered by a value it does not show (which row's value orders it is undefined)"
    if facts.unlimited and facts.limit is not None:
        full = executor.execute(facts.unlimited, row_cap=facts.limit + 1)
        if full.ok and full.row_count > facts.limit:
            return f"determinism: LIMIT {facts.limit} without ORDER BY keeps rows in physical order"
    if facts.tie_variants:
        up = up if up is not None else executor.execute(facts.tie_variants[0])
        if up.ok and up.truncated:  # the row cap may hide ties further down: look at all of it
            up = executor.execute(facts.tie_variants[0], row_cap=FULL_ROWS)
            down = executor.execute(facts.tie_variants[1], row_cap=FULL_ROWS)
        else:
            down = executor.execute(facts.tie_variants[1])
        if up.truncated:
            return f"determinism: more than {FULL_ROWS} ordered rows, too many to check for ties"
        if up.ok and down.ok and _rows(up) != _rows(down):
            cut = f" at the LIMIT {facts.limit} cut-off" if facts.limit is not None else ""
            return f"determinism: rows tied on the ORDER BY keys come back in either order{cut}"
    return None


def _yes_no_said(sem: Any, value: str, question: str) -> bool:
    """A flag's yes/no is said by the label itself (`红冲发票`, `not marked as approved`)."""
    core = re.sub(r"^(是否|是不是|is_|has_)", "", sem.label or "").lower()
    return sem.role == "flag" and bool(core) and core in question
