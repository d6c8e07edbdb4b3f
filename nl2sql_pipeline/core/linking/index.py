"""A database's retrieval index: its table cards, one BM25 document per table and a value index.

The stored model holds only what decides retrieval (the cards, the sampled values, which fields
the documents draw on); the BM25 matrix and the posting lists are rebuilt from it on first use
(milliseconds for 500 tables), so the JSON the IO manager writes stays small and readable and
its version is a hash of exactly those inputs.

Documents draw on whatever the cards carry: the table name (weighted x3), its comment (x2) and the
card text (column names split into words, their comments, labels and value legends, FK links
naming the neighbour tables). The value index holds sampled distinct values of text columns
(CodeS-style: the question "上海仓的库存" finds `warehouse.wh_name`), never of a column the
database's `no_sample` settings exclude.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Literal, Protocol

import bm25s
import numpy as np
from pydantic import BaseModel, Field, PrivateAttr
from sqlglot import exp

from nl2sql_pipeline.core.cards import TableCard, TableCards, estimate_tokens
from nl2sql_pipeline.core.fsutil import sha256_text
from nl2sql_pipeline.core.linking.words import has_cjk, literal_words, words

DocField = Literal["names", "comments", "card_text"]
ALL_FIELDS: tuple[DocField, ...] = ("names", "comments", "card_text")
SAMPLE_ROWS = 1000  # rows read per table for its values: category columns repeat, so few rows suffice
VALUES_PER_COLUMN = 100
MAX_VALUE_CHARS = 60


class Executor(Protocol):
    def execute(self, sql: str) -> Any: ...


class ColumnValues(BaseModel):
    table: str
    column: str
    values: list[str]  # most frequent first


@dataclass(frozen=True)
class Shape:
    tables: tuple[str, ...]
    position: dict[str, int]  # lower-case name -> position in the cards
    costs: dict[str, tuple[int, ...]]  # "ddl" / "cards" -> prompt tokens per table
    graph: dict[str, tuple[str, ...]]  # FK neighbours, both directions
    name_sizes: tuple[int, ...]  # distinct words in each table's name
    name_postings: dict[str, tuple[int, ...]]  # word -> positions of the tables whose name has it

    def name_coverage(self, question_words: set[str]) -> dict[int, float]:
        """Share of each table's name words found in the question (tables with none left out)."""
        found: dict[int, int] = {}
        for word in question_words:
            for i in self.name_postings.get(word, ()):
                found[i] = found.get(i, 0) + 1
        return {i: n / self.name_sizes[i] for i, n in found.items()}

    @classmethod
    def of(cls, cards: TableCards) -> Shape:
        tables = tuple(c.table for c in cards.cards)
        position = {t.lower(): i for i, t in enumerate(tables)}
        graph: dict[str, tuple[str, ...]] = {}
        for card in cards.cards:
            others = (tables[j] for link in card.links if (j := position.get(link.other_table.lower())) is not None)
            graph[card.table] = tuple(dict.fromkeys(o for o in others if o != card.table))
        names = [frozenset(words(t)) for t in tables]
        postings: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            for word in name:
                postings.setdefault(word, []).append(i)
        return cls(tables=tables, position=position, graph=graph,
                   costs={"ddl": tuple(estimate_tokens(c.ddl) for c in cards.cards),
                          "cards": tuple(c.tokens for c in cards.cards)},
                   name_sizes=tuple(len(n) for n in names), name_postings={w: tuple(p) for w, p in postings.items()})


class SchemaIndex(BaseModel):
    """Everything linking needs for one database; build it with `build_index`."""

    database: str
    dialect: str
    cards: TableCards
    fields: list[DocField] = Field(default_factory=lambda: list(ALL_FIELDS))
    values: list[ColumnValues] = Field(default_factory=list)
    skipped_columns: list[str] = Field(default_factory=list)  # `table.column` kept out by no_sample
    notes: list[str] = Field(default_factory=list)
    version: str = ""

    _bm25: Any = PrivateAttr(default=None)
    _vocab: dict[str, int] = PrivateAttr(default_factory=dict)
    _postings: dict[str, list[int]] | None = PrivateAttr(default=None)
    _value_words: list[tuple[int, str, frozenset[str]]] = PrivateAttr(default_factory=list)
    _shape: Shape | None = PrivateAttr(default=None)

    def __len__(self) -> int:
        return len(self.cards)

    @property
    def shape(self) -> Shape:
        """Lookups linking does per question, computed once: every call stays O(1) per table."""
        if self._shape is None:
            self._shape = Shape.of(self.cards)
        return self._shape

    @property
    def tables(self) -> list[str]:
        return list(self.shape.tables)

    def cost(self, table: str, fmt: str) -> int:
        """Prompt tokens of one table's schema in `fmt` ("ddl" or "cards"); 0 for an unknown table."""
        shape = self.shape
        i = shape.position.get(table.lower())
        return 0 if i is None else shape.costs[fmt][i]

    def table_scores(self, question_words: list[str]) -> np.ndarray:
        """BM25 score of every table (cards order) for the question's words."""
        self._ensure_bm25()
        known = [w for w in question_words if w in self._vocab]
        if not known:
            return np.zeros(len(self.cards), dtype=np.float32)
        return self._bm25.get_scores(known)

    def value_hits(self, question: str) -> list[tuple[int, str]]:
        """(table position, `column: value`) for every sampled value whose words all occur in the question."""
        self._ensure_values()
        postings, entries = self._postings or {}, self._value_words  # locals: pydantic's private-attribute access is slow
        present = literal_words(question)
        seen: set[int] = set()
        hits = []
        for word in present:
            for entry in postings.get(word, ()):
                if entry in seen:
                    continue
                seen.add(entry)
                position, label, needed = entries[entry]
                if needed <= present:
                    hits.append((position, label))
        return sorted(hits)

    def _ensure_bm25(self) -> None:
        if self._bm25 is not None:
            return
        corpus = [document(card, self.fields) or [""] for card in self.cards.cards]
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        self._vocab = dict(retriever.vocab_dict)
        self._bm25 = retriever

    def _ensure_values(self) -> None:
        if self._postings is not None:
            return
        position = {c.table.lower(): i for i, c in enumerate(self.cards.cards)}
        postings: dict[str, list[int]] = {}
        entries: list[tuple[int, str, frozenset[str]]] = []
        for col in self.values:
            table = position.get(col.table.lower())
            if table is None:
                continue
            for value in col.values:
                needed = literal_words(value)
                if not needed or len(value) < (2 if has_cjk(value) else 3):
                    continue  # "a", "F", "箱": in too many questions by accident to mean anything
                # the rarest word of the value is enough to find it; all of them must match
                key = min(needed, key=lambda w: (len(postings.get(w, ())), w))
                postings.setdefault(key, []).append(len(entries))
                entries.append((table, f"{col.column}: {value}", needed))
        self._postings, self._value_words = postings, entries


def document(card: TableCard, fields: list[DocField] | tuple[DocField, ...]) -> list[str]:
    """The words one table is found by."""
    doc = words(card.table) * 3
    if "names" in fields:
        for col in card.columns:
            doc += words(col.name)
    if "comments" in fields and card.comment:
        doc += words(card.comment) * 2
    if "card_text" in fields:
        for line in card.text.splitlines():  # line by line: repeated lines (legends, types) hit the cache
            doc += words(line)
    return doc


def sample_values(cards: TableCards, executor: Executor | None, may_sample: Callable[[str, str], bool],
                  *, rows: int = SAMPLE_ROWS, per_column: int = VALUES_PER_COLUMN) -> tuple[list[ColumnValues], list[str], list[str]]:
    """Distinct values of each text column, one bounded read-only query per table.

    Returns (values, columns skipped by the privacy settings, notes on tables that could not be read).
    """
    values: list[ColumnValues] = []
    skipped: list[str] = []
    notes: list[str] = []
    for card in cards.cards:
        text_cols = [c.name for c in card.columns if c.type == "text"]
        allowed = [c for c in text_cols if may_sample(card.table, c)]
        skipped += [f"{card.table}.{c}" for c in text_cols if c not in allowed]
        if not allowed or executor is None:
            continue
        sql = (exp.select(*[exp.column(exp.to_identifier(c, quoted=True)) for c in allowed])
               .from_(exp.Table(this=exp.to_identifier(card.table, quoted=True))).limit(rows)
               .sql(dialect=cards.dialect))
        result = executor.execute(sql)
        if not result.ok:
            notes.append(f"{card.table}: values not sampled ({result.error_kind}: {result.error})")
            continue
        for i, column in enumerate(allowed):
            counts = Counter(v.strip() for r in result.rows if isinstance(v := r[i], str)
                             and 0 < len(v.strip()) <= MAX_VALUE_CHARS and "\n" not in v)
            if counts:
                ranked = sorted(counts, key=lambda v: (-counts[v], v))[:per_column]
                values.append(ColumnValues(table=card.table, column=column, values=ranked))
    return values, skipped, notes


def build_index(cards: TableCards, values: list[ColumnValues] | None = None, *, skipped_columns: list[str] | None = None,
                notes: list[str] | None = None, fields: tuple[DocField, ...] = ALL_FIELDS) -> SchemaIndex:
    """The index of one database; its `version` changes exactly when cards, values or fields do."""
    values = values or []
    digest = sha256_text(json.dumps([cards.model_dump(mode="json"), [v.model_dump() for v in values], list(fields)],
                                    ensure_ascii=False, sort_keys=True))[:16]
    index = SchemaIndex(database=cards.database, dialect=cards.dialect, cards=cards, fields=list(fields), values=values,
                        skipped_columns=skipped_columns or [], notes=notes or [], version=digest)
    index._ensure_bm25()
    index._ensure_values()
    _ = index.shape
    return index
