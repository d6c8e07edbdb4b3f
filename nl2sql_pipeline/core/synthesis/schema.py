"""What the grammar may say about a topic's tables: typed columns with their business role,
label, legend and unit (core.semantics), and FK join steps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nl2sql_pipeline.core.chinese import has_chinese
from nl2sql_pipeline.core.schema.metadata import ColumnInfo, SchemaMetadata, TableInfo
from nl2sql_pipeline.core.semantics import ColumnSemantics, SemanticIndex

NUMERIC = {"integer", "decimal", "float"}
TEMPORAL = {"date", "datetime"}
_COUNT_WORDS = {"数量", "个数", "总数", "数"}
_CLASSIFIERS = set("件个台套箱张次人份本只条包瓶袋盒辆")
_RATIO = re.compile(r"(单价|价格|均价|率|比例|比率|占比|百分比|年龄|评分|price|rate|ratio|percent|pct|share|age$|score|average|avg)",
                    re.IGNORECASE)


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    type: str
    label: str  # how a question names it, in the question's language
    key: bool  # primary or foreign key
    nullable: bool
    role: str = "text"  # identifier | category | flag | measure | datetime | text (core.semantics)
    legend: tuple[tuple[str, str], ...] = ()  # code -> meaning, when values stand for meanings
    unit: str | None = None

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC

    @property
    def temporal(self) -> bool:
        """Dates a question compares and ranges (real date types and `YYYY-MM` texts)."""
        return self.type in TEMPORAL or self.role == "datetime" and self.type == "text"

    @property
    def measure(self) -> bool:
        """A number worth summing, averaging or ranking by."""
        return self.role == "measure" and self.numeric

    @property
    def additive(self) -> bool:
        """A measure whose total means something: amounts and quantities, not prices per unit,
        rates or shares (a sum of unit prices answers no question)."""
        return self.measure and self.unit not in ("%", "％") and not (_RATIO.search(self.label) or _RATIO.search(self.name))

    @property
    def orderable(self) -> bool:
        """Worth sorting by: amounts and dates, never codes or identifiers."""
        return self.measure or self.role == "datetime"

    @property
    def textual(self) -> bool:
        return self.type == "text" and self.role in ("text", "category")

    @property
    def coded(self) -> bool:
        return self.role in ("category", "flag") and bool(self.legend)

    @property
    def identifier(self) -> bool:
        return self.role == "identifier"

    def meaning(self, value: object) -> str | None:
        key = ("1" if value else "0") if isinstance(value, bool) else str(int(value)) if isinstance(
            value, float) and value.is_integer() else str(value).strip()
        return next((m for c, m in self.legend if c == key or c.lower() == key.lower()), None)


@dataclass(frozen=True)
class JoinStep:
    """`left` (already in FROM) joins `right` on pairs of columns (several for composite keys)."""

    left: str
    right: str
    pairs: tuple[tuple[str, str], ...]


@dataclass
class TableView:
    name: str
    label: str
    columns: list[Column]
    row_count: int | None
    primary_key: tuple[str, ...] = ()
    steps: list[JoinStep] = field(default_factory=list)  # joins that start at this table

    def pick(self, kind: str) -> list[Column]:
        return [c for c in self.columns if getattr(c, kind)]


def humanize(identifier: str) -> str:
    """`Song_release_year` -> `song release year`; camelCase split; keeps non-ASCII letters."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", identifier)
    return re.sub(r"[_\s]+", " ", text).strip().lower()


def _zh_label(comment: str | None, identifier: str) -> str:
    if comment and has_chinese(comment):
        return re.sub(r"[（(].*?[）)]", "", re.sub(r"(信息)?表$", "", comment.strip())) or comment.strip()
    return humanize(identifier)


def label_for(comment: str | None, identifier: str, language: str) -> str:
    if language == "zh":
        return _zh_label(comment, identifier)
    if comment and not has_chinese(comment) and len(comment) <= 40:
        return comment.strip().rstrip(".").lower()
    return humanize(identifier)


def _column(table: TableInfo, col: ColumnInfo, fk_cols: set[str], language: str,
            sem: ColumnSemantics | None) -> Column:
    # The parsed label, never the raw comment: a legend or unit in a comment is not a name.
    label = label_for(sem.label if sem is not None and sem.label else None, col.name, language)
    if language == "zh" and label in _COUNT_WORDS and sem is not None and sem.role == "measure" and sem.unit:
        # 合同明细的数量 reads as how many lines; 合同明细的件数 is the quantity column.
        label = f"{sem.unit}数" if sem.unit in _CLASSIFIERS else f"{label}（{sem.unit}）"
    coded = sem is not None and sem.coded
    return Column(table=table.name, name=col.name, type=col.type, label=label,
                  key=col.primary_key or col.name in fk_cols, nullable=col.nullable,
                  role=sem.role if sem is not None else "text", legend=sem.values if coded else (),
                  unit=sem.unit if sem is not None else None)


def _steps(meta: SchemaMetadata, tables: set[str]) -> list[JoinStep]:
    """Both directions of every FK between two tables of the topic (self references included)."""
    steps = []
    for t in meta.tables:
        if t.name not in tables:
            continue
        for fk in t.foreign_keys:
            ref = meta.table(fk.ref_table)
            if ref is None or ref.name not in tables or len(fk.columns) != len(fk.ref_columns) or not fk.columns:
                continue
            if any(t.column(a) is None or ref.column(b) is None for a, b in zip(fk.columns, fk.ref_columns)):
                continue  # Spider-style metadata sometimes names columns that do not exist
            pairs = tuple(zip(fk.columns, fk.ref_columns))
            steps.append(JoinStep(t.name, ref.name, pairs))
            if ref.name != t.name:
                steps.append(JoinStep(ref.name, t.name, tuple((b, a) for a, b in pairs)))
    return sorted(set(steps), key=lambda s: (s.left, s.right, s.pairs))


def topic_views(meta: SchemaMetadata, tables: list[str], language: str,
                semantics: SemanticIndex | None = None) -> dict[str, TableView]:
    semantics = semantics or SemanticIndex.build(meta)
    infos = [t for name in tables if (t := meta.table(name)) is not None]
    steps = _steps(meta, {t.name for t in infos})
    views = {}
    for info in infos:
        fk_cols = {c for fk in info.foreign_keys for c in fk.columns}
        cols = [_column(info, c, fk_cols, language, semantics.column(info.name, c.name))
                for c in info.columns if c.type not in ("blob", "json", "other")]
        views[info.name] = TableView(
            name=info.name, label=label_for(semantics.table_label(info.name), info.name, language), columns=cols,
            row_count=info.row_count, primary_key=tuple(info.primary_key),
            steps=[s for s in steps if s.left == info.name],
        )
    return views


def to_one(step: JoinStep, views: dict[str, TableView]) -> bool:
    """The step reaches the referenced key: one row on the right per row on the left."""
    right = views.get(step.right)
    return right is not None and bool(right.primary_key) and tuple(b for _, b in step.pairs) == right.primary_key


def join_paths(views: dict[str, TableView], start: str, max_hops: int) -> list[list[JoinStep]]:
    """Simple paths of 1..max_hops FK steps from `start` (a self join counts as one hop). A path
    never goes up to a parent and back down to its other children (a warehouse's keeper's sales
    contracts): siblings through a shared parent are rarely a business question."""
    out: list[list[JoinStep]] = []

    def walk(path: list[JoinStep], seen: set[str]) -> None:
        here = path[-1].right if path else start
        for step in views[here].steps if here in views else []:
            if step.right in seen and step.right != step.left:
                continue
            if step.right == step.left and (path or max_hops < 1):
                continue  # self joins only as the single hop from the start
            if path and to_one(path[-1], views) and not to_one(step, views):
                continue
            new = path + [step]
            out.append(new)
            if len(new) < max_hops and step.right != step.left:
                walk(new, seen | {step.right})

    walk([], {start})
    return out
