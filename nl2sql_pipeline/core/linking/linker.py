"""Schema linking: which tables of a database a question's prompt shows, within a token budget.

    index = build_index(cards, values)
    linked = link("上海仓有多少库存？", index, LinkConfig(budget_tokens=1200, max_tables=6))
    linked.tables  # e.g. ['inventory', 'warehouse', 'product']

The whole schema when it fits the budget and the table cap; otherwise tables ranked by BM25 over
their cards plus sampled-value hits (plus what an `extra` scorer adds, e.g.
`embeddings.EmbeddingRetriever`), taken greedily with
FK-path completion: a table is added together with the bridge tables that join it to the tables
already chosen, when all of them fit. The result never depends on the gold SQL.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from nl2sql_pipeline.core.cards import estimate_tokens
from nl2sql_pipeline.core.linking.columns import pick_columns, render_part
from nl2sql_pipeline.core.linking.index import SchemaIndex
from nl2sql_pipeline.core.linking.words import words

Mode = Literal["full", "linked", "oracle"]
# Extra scores from another retriever (e.g. embeddings), same order as the index's tables.
ExtraScores = Callable[[str, SchemaIndex], np.ndarray]
VALUE_HIT_WEIGHT = 0.6  # a value found in the question counts as much as 60% of the best BM25 match
QUOTED_VALUE_WEIGHT = 1.2  # ... and more than the best match when the question quotes it
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”|„([^“”]+)[“”]|「([^」]+)」|‘([^’]+)’")
NAME_MATCH_WEIGHT = 0.5  # all of a table's name words in the question
EXTRA_WEIGHT = 1.0  # an extra retriever's best table counts as much as the best BM25 match
MAX_BRIDGE_HOPS = 3
MAX_CANDIDATES = 100  # ranked tables tried before giving up on filling the budget: bounds the latency


class LinkConfig(BaseModel):
    """How much schema a prompt may carry."""

    budget_tokens: int = Field(1200, ge=50)
    max_tables: int = Field(0, ge=0)  # 0: no cap beyond the budget
    schema_format: Literal["ddl", "cards"] = "ddl"
    fk_completion: bool = True
    use_values: bool = True
    min_relative_score: float = Field(0.0, ge=0.0, le=1.0)  # drop tables scoring below this share of the best
    # a selected table costing more (or more than half the budget) shows only its relevant columns
    wide_table_tokens: int = Field(400, ge=50)


class LinkedSchema(BaseModel):
    """The tables one prompt shows, in prompt order, and how they were chosen."""

    database: str
    mode: Mode
    tables: list[str]
    ranked: list[str] = Field(default_factory=list)  # retrieval order, best first (linked mode)
    bridges: list[str] = Field(default_factory=list)  # added by FK-path completion
    added_gold: list[str] = Field(default_factory=list)  # training only: gold tables the linker missed
    value_hints: list[str] = Field(default_factory=list)  # `table.column: value` found in the question
    tokens: int = 0  # schema tokens of `tables`
    whole_schema: bool = False
    over_budget: bool = False
    columns: dict[str, list[str]] = Field(default_factory=dict)  # wide tables shown in part: the columns shown


def _fits(index: SchemaIndex, config: LinkConfig) -> bool:
    cap_ok = not config.max_tables or len(index) <= config.max_tables
    return cap_ok and sum(index.shape.costs[config.schema_format]) <= config.budget_tokens


def bridge_path(graph: Mapping[str, Sequence[str]], start: str, targets: set[str], max_hops: int = MAX_BRIDGE_HOPS) -> list[str] | None:
    """Tables strictly between `start` and the nearest of `targets` on an FK path (None: unreachable)."""
    if start in targets:
        return []
    parent: dict[str, str | None] = {start: None}
    queue = deque([(start, 0)])
    while queue:
        node, depth = queue.popleft()
        if depth == max_hops:
            continue
        for nxt in graph.get(node, []):
            if nxt in parent:
                continue
            parent[nxt] = node
            if nxt in targets:
                path, step = [], parent[nxt]
                while step is not None and step != start:
                    path.append(step)
                    step = parent[step]
                return path[::-1]  # from start's side
            queue.append((nxt, depth + 1))
    return None


def scores(question: str, index: SchemaIndex, config: LinkConfig, extra: ExtraScores | None = None) -> tuple[np.ndarray, list[str]]:
    """Relevance of every table (index order) and the value hints behind it."""
    qwords = words(question)
    bm25 = np.asarray(index.table_scores(qwords), dtype=np.float64)
    total = bm25 / bm25.max() if bm25.max() > 0 else bm25
    # "Sänger" names table sänger more than sänger_im_konzert, though both contain the word
    for i, share in index.shape.name_coverage(set(qwords)).items():
        total[i] += NAME_MATCH_WEIGHT * share
    hints: list[str] = []
    if config.use_values:
        hits = index.value_hits(question)
        per_table: dict[int, int] = {}
        for position, label in hits:
            per_table[position] = per_table.get(position, 0) + 1
            hints.append(f"{index.shape.tables[position]}.{label}")
        quoted = "\0".join(m.group(0) for m in _QUOTED.finditer(question)).lower()
        for position, label in hits:
            value = label.split(": ", 1)[1].lower()
            strong = value in quoted  # the user marked it as a literal
            total[position] += (QUOTED_VALUE_WEIGHT if strong else VALUE_HIT_WEIGHT) / min(per_table[position], 2)
    if extra is not None and len(total):
        more = np.asarray(extra(question, index), dtype=np.float64)
        more -= more.min()  # similarities are relative: the least similar table adds nothing
        if more.max() > 0:
            total = total + EXTRA_WEIGHT * more / more.max()
    return total, hints


def link(question: str, index: SchemaIndex, config: LinkConfig | None = None, *, extra: ExtraScores | None = None) -> LinkedSchema:
    """The tables to show for `question`: whole schema if it fits, else ranked, FK-completed, within budget."""
    config = config or LinkConfig()
    shape = index.shape
    costs = dict(zip(shape.tables, shape.costs[config.schema_format]))
    if _fits(index, config):
        hits = index.value_hits(question) if config.use_values else []
        return LinkedSchema(database=index.database, mode="full", tables=list(shape.tables), whole_schema=True,
                            value_hints=[f"{shape.tables[p]}.{label}" for p, label in hits], tokens=sum(costs.values()))
    total, hints = scores(question, index, config, extra)
    wide = WideTables(question, index, config, hints, costs)
    order = np.lexsort((np.arange(len(total)), -total))  # best first, ties in schema order
    best = total[order[0]] if len(order) else 0.0
    keep = order[(total[order] > 0) & (total[order] >= config.min_relative_score * best)]
    ranked = [shape.tables[i] for i in keep[:max(MAX_CANDIDATES, 10)].tolist()]
    cap = config.max_tables or len(shape.tables)
    budget = config.budget_tokens
    cheapest = min(costs.values(), default=0)
    chosen: list[str] = []
    bridges: list[str] = []
    spent = 0
    for table in ranked[:MAX_CANDIDATES]:
        if table in chosen:
            continue
        path = bridge_path(shape.graph, table, set(chosen)) if chosen and config.fk_completion else []
        add = [table] + [b for b in (path or []) if b not in chosen]
        cost = sum(wide.cost(t) for t in add)
        if len(chosen) + len(add) > cap or (chosen and spent + cost > budget):
            if len(add) > 1 and len(chosen) < cap and spent + wide.cost(table) <= budget:
                add, cost = [table], wide.cost(table)  # unjoinable within budget: still show the table
            else:
                continue
        chosen += add
        bridges += add[1:]
        spent += cost
        if len(chosen) >= cap or budget - spent < cheapest:
            break
    if not chosen and shape.tables:  # nothing matched a word: the first tables that fit, not an empty prompt
        chosen = index.cards.fit(list(shape.tables), budget)[:cap]
        spent = sum(costs[t] for t in chosen)
    return LinkedSchema(database=index.database, mode="linked", tables=chosen, ranked=ranked[:max(cap, 10)],
                        bridges=bridges, value_hints=hints, tokens=spent, over_budget=spent > budget,
                        columns={t: wide.columns[t] for t in chosen if t in wide.columns})


class WideTables:
    """Costs of tables as a prompt would show them: a wide table (over `wide_table_tokens`, or
    half the budget) in part, its columns chosen for the question when it is first considered."""

    def __init__(self, question: str, index: SchemaIndex, config: LinkConfig, hints: list[str], costs: dict[str, int]):
        self.index, self.config, self.hints, self.full = index, config, hints, costs
        self.limit = min(config.wide_table_tokens, config.budget_tokens // 2)  # room for the tables it joins
        self.question_words = set(words(question))
        self.columns: dict[str, list[str]] = {}
        self._cost: dict[str, int] = {}

    def cost(self, table: str) -> int:
        if self.full[table] <= self.limit:
            return self.full[table]
        if table not in self._cost:
            card = self.index.cards.card(table)
            hinted = {h.split(".", 1)[1].split(": ", 1)[0].lower() for h in self.hints if h.split(".", 1)[0] == table}
            shown = pick_columns(card, self.question_words, hinted, self.limit, self.config.schema_format)
            self._cost[table] = self.full[table]
            if len(shown) < len(card.columns):
                self.columns[table] = shown
                self._cost[table] = estimate_tokens(render_part(card, shown, self.config.schema_format, self.index.dialect))
        return self._cost[table]


def shuffled(tables: list[str], key: str) -> list[str]:
    """A deterministic order that depends on `key` (the question), not on rank: the position of a
    table in a training prompt must not tell the model it is the one the answer uses."""
    return sorted(tables, key=lambda t: hashlib.sha256(f"{key}\0{t}".encode()).hexdigest())


def with_missed_gold(linked: LinkedSchema, gold_tables: list[str], index: SchemaIndex, fmt: str) -> LinkedSchema:
    """Training prompts: the linked tables plus every gold table the linker missed (recorded in
    `added_gold`, so the miss rate is reported rather than hidden). A wide gold table is shown
    whole: the columns its SQL reads must be in the prompt it is trained on."""
    canonical = {t.lower(): t for t in index.tables}
    gold = {canonical[g.lower()] for g in gold_tables if g.lower() in canonical}
    have = {t.lower() for t in linked.tables}
    missed = list(dict.fromkeys(canonical[g.lower()] for g in gold_tables if g.lower() in canonical and g.lower() not in have))
    columns = {t: cols for t, cols in linked.columns.items() if t not in gold}
    if not missed and columns == linked.columns:
        return linked
    tables = linked.tables + missed
    return linked.model_copy(update={"tables": tables, "added_gold": missed, "columns": columns,
                                     "tokens": schema_tokens(tables, columns, index, fmt)})


def schema_tokens(tables: list[str], columns: dict[str, list[str]], index: SchemaIndex, fmt: str) -> int:
    """Prompt tokens of `tables`, the ones in `columns` shown in part."""
    return sum(estimate_tokens(render_part(card, columns[t], fmt, index.dialect))
               if t in columns and (card := index.cards.card(t)) else index.cost(t, fmt) for t in tables)
