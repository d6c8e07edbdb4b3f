"""SQL-side facts of the semantic layer: which table each column comes from, arithmetic and
order comparisons on columns, joined tables that contribute nothing, and the rewritten queries
that test determinism (ORDER BY extended by every output column) and unexpressed joins (the
query without them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from nl2sql_pipeline.core.schema.metadata import SchemaMetadata

_ARITH_AGGS = (exp.Sum, exp.Avg, exp.Min, exp.Max)
_ORDER_CMP = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
_ARITH = (exp.Add, exp.Sub, exp.Mul, exp.Div)


@dataclass
class ColumnUse:
    table: str  # the metadata's spelling
    column: str
    node: exp.Column


@dataclass(frozen=True)
class Catalog:
    """Lower-cased table -> its name, and -> {lower-cased column: column name}: the lookups the
    analysis makes for every column, built once per database."""

    tables: dict[str, str]
    columns: dict[str, dict[str, str]]

    @classmethod
    def of(cls, meta: SchemaMetadata) -> Catalog:
        return cls({t.name.lower(): t.name for t in meta.tables},
                   {t.name.lower(): {c.name.lower(): c.name for c in t.columns} for t in meta.tables})


@dataclass
class SqlFacts:
    columns: list[ColumnUse] = field(default_factory=list)
    misuse: list[tuple[str, ColumnUse]] = field(default_factory=list)  # (what, column)
    equalities: list[tuple[ColumnUse, list[str]]] = field(default_factory=list)  # col = 'x' / IN (...) literals
    unused_joins: list[str] = field(default_factory=list)  # tables joined that no clause uses
    sources: list[str] = field(default_factory=list)  # the top-level FROM and JOIN tables
    without_unused: str | None = None  # the query without those joins
    tie_variants: tuple[str, str] | None = None  # ORDER BY extended ascending / descending
    distinct_order: bool = False  # SELECT DISTINCT ordered by something it does not show
    unlimited: str | None = None  # LIMIT without ORDER BY: the query without its LIMIT
    limit: int | None = None


def _sources(select: exp.Select, catalog: Catalog) -> dict[str, str]:
    """alias (or name) lower-cased -> table name, for the tables in this SELECT's FROM and JOINs."""
    out: dict[str, str] = {}
    tables = [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or [])
    for node in tables:
        table = node.this if node is not None else None
        if isinstance(table, exp.Table) and table.name and (name := catalog.tables.get(table.name.lower())):
            out[(table.alias_or_name or table.name).lower()] = name
    return out


def _resolve(col: exp.Column, catalog: Catalog, cache: dict[int, dict[str, str]]) -> ColumnUse | None:
    select = col.find_ancestor(exp.Select)
    low = col.name.lower()
    while select is not None:
        sources = cache.get(id(select))
        if sources is None:
            sources = cache[id(select)] = _sources(select, catalog)
        if col.table:
            if (table := sources.get(col.table.lower())) is not None:
                return ColumnUse(table, catalog.columns[table.lower()].get(low, col.name), col)
        else:
            for table in sources.values():
                if (name := catalog.columns[table.lower()].get(low)) is not None:
                    return ColumnUse(table, name, col)
        select = select.parent.find_ancestor(exp.Select) if select.parent else None
    return None


def _direct(node: exp.Expression) -> exp.Column | None:
    """The column an expression is, looking through parentheses and casts."""
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    return node if isinstance(node, exp.Column) else None


def analyse_sql(tree: exp.Expression, catalog: Catalog, dialect: str,
                named: Callable[[str], bool] | None = None) -> SqlFacts:
    """Everything the semantic checks need from one parsed query (the tree is left as it was).
    `named(table)`: whether the question names the table; a named table counts as used, so the
    tables linking it stay as bridges."""
    facts = SqlFacts()
    cache: dict[int, dict[str, str]] = {}
    uses: dict[int, ColumnUse] = {}
    for col in tree.find_all(exp.Column):
        if isinstance(col.this, exp.Star):
            continue
        use = _resolve(col, catalog, cache)
        if use is not None:
            uses[id(col)] = use
            facts.columns.append(use)
    for node in tree.find_all(*_ARITH_AGGS, *_ORDER_CMP, *_ARITH, exp.EQ, exp.In, exp.NEQ):
        if isinstance(node, _ARITH_AGGS):
            for col in node.this.find_all(exp.Column) if node.this else ():
                if id(col) in uses:
                    facts.misuse.append((node.key.upper(), uses[id(col)]))
        elif isinstance(node, _ORDER_CMP + _ARITH):
            sides = [node.this, node.expression] if not isinstance(node, exp.Between) else [node.this]
            for side in sides:
                col = _direct(side) if side is not None else None
                if col is not None and id(col) in uses:
                    what = "BETWEEN" if isinstance(node, exp.Between) else node.key.upper()
                    facts.misuse.append((what, uses[id(col)]))
        else:
            col = _direct(node.this)
            if col is None or id(col) not in uses:
                continue
            values = [node.expression] if not isinstance(node, exp.In) else list(node.expressions)
            literals = [str(v.this) for v in values if isinstance(v, exp.Literal)]
            if literals:
                facts.equalities.append((uses[id(col)], literals))
    _joins(tree, catalog, uses, facts, dialect, cache, named)
    _determinism(tree, facts, dialect)
    return facts


def _top_selects(tree: exp.Expression) -> list[exp.Select]:
    if isinstance(tree, exp.Select):
        return [tree]
    if isinstance(tree, exp.SetOperation):
        return [s for s in tree.find_all(exp.Select) if isinstance(s.parent, exp.SetOperation)]
    return []


def _joins(tree: exp.Expression, catalog: Catalog, uses: dict[int, ColumnUse], facts: SqlFacts,
           dialect: str, cache: dict[int, dict[str, str]], named: Callable[[str], bool] | None = None) -> None:
    """Joined tables of the top-level SELECT(s) that no clause but their own ON uses, leaves first
    (a table that only links two used tables is a bridge and stays), and the query without them."""
    removals: list[tuple[int, list[str]]] = []
    selects = _top_selects(tree)
    for position, select in enumerate(selects):
        joins = list(select.args.get("joins") or [])
        base = select.args.get("from_") or select.args.get("from")
        if not joins or base is None or not isinstance(base.this, exp.Table):
            continue
        if any(j.args.get("side") or j.args.get("kind") in ("LEFT", "RIGHT", "FULL") for j in joins):
            continue  # an outer join neither filters nor (on a key) multiplies: leave it
        if not all(isinstance(j.this, exp.Table) for j in joins):
            continue
        sources = cache.get(id(select)) or _sources(select, catalog)
        everyone = [(base.this.alias_or_name or base.this.name).lower()] + [
            (j.this.alias_or_name or j.this.name).lower() for j in joins]
        facts.sources += [t for a in everyone if (t := sources.get(a))]
        used: set[str] = set()
        edges: dict[str, set[str]] = {a: set() for a in everyone}
        for col in select.find_all(exp.Column):
            if col.find_ancestor(exp.Select) is not select:
                continue  # a subquery's own columns
            join = col.find_ancestor(exp.Join)
            owner = (col.table or "").lower()
            if join is not None and join.parent is select:
                other = owner
                mine = (join.this.alias_or_name or join.this.name).lower()
                if other in edges and other != mine:
                    edges[mine].add(other)
                    edges[other].add(mine)
                continue
            if owner in edges:
                used.add(owner)
            elif not owner and id(col) in uses:
                used.update(a for a in everyone if sources.get(a) == uses[id(col)].table)
        if any(isinstance(c.this, exp.Star) and c.find_ancestor(exp.Select) is select for c in select.find_all(exp.Count)):
            used.add(everyone[0])  # COUNT(*) counts the rows of the table the query is about
        tables = [sources.get(a) for a in everyone]
        if named is not None:  # a self-join's other row is named by its role, not by its table
            used.update(a for a, t in zip(everyone, tables) if t and tables.count(t) == 1 and named(t))
        if used and (removed := _prune(edges, used)):
            removals.append((position, removed))
            facts.unused_joins += [sources.get(a, a) for a in removed]
    if removals:
        rewritten = tree.copy()
        targets = _top_selects(rewritten)
        for position, removed in removals:
            target = targets[position]
            _remove(target, removed, (target.args.get("from_") or target.args.get("from")).this)
        facts.without_unused = rewritten.sql(dialect=dialect)


def _prune(edges: dict[str, set[str]], used: set[str]) -> list[str]:
    """Aliases to drop: leaves of the join graph that are not used, repeatedly."""
    edges = {a: set(b) for a, b in edges.items()}
    removed: list[str] = []
    while True:
        leaves = [a for a, nbs in edges.items() if a not in used and len(nbs) <= 1 and len(edges) > 1]
        if not leaves:
            return removed
        for leaf in leaves:
            for nb in edges.pop(leaf):
                if nb in edges:
                    edges[nb].discard(leaf)
            removed.append(leaf)


def _remove(select: exp.Select, aliases: list[str], base: exp.Table) -> None:
    joins = list(select.args.get("joins") or [])
    base_alias = (base.alias_or_name or base.name).lower()
    kept = [j for j in joins if (j.this.alias_or_name or j.this.name).lower() not in aliases]
    if base_alias in aliases:
        if not kept:
            return
        first = kept.pop(0)
        select.set("from_", exp.From(this=first.this.copy()))
    select.set("joins", kept or None)


@lru_cache(maxsize=16)
def _dialect(name: str) -> Dialect:
    return Dialect.get_or_raise(name)


def ordering_facts(tree: exp.Expression, dialect: str) -> SqlFacts:
    """Only what the determinism check needs (for trees built correct by construction)."""
    facts = SqlFacts()
    _determinism(tree, facts, dialect)
    return facts


def _determinism(tree: exp.Expression, facts: SqlFacts, dialect: str) -> None:
    """The queries that test for ties, generated from the tree itself (changed and put back:
    copying trees cost more than the rest of the analysis)."""
    order = tree.args.get("order")
    limit = tree.args.get("limit")
    width = len(tree.expressions) if isinstance(tree, exp.Select) else len(tree.selects) if isinstance(
        tree, exp.SetOperation) else 0
    generate = _dialect(dialect).generate
    if limit is not None and isinstance(limit.expression, exp.Literal) and limit.expression.is_int:
        facts.limit = int(limit.expression.this)
    if order is None and limit is not None and facts.limit is not None:
        tree.set("limit", None)
        facts.unlimited = generate(tree, copy=False)
        tree.set("limit", limit)
    if order is None or not width:
        return
    if isinstance(tree, exp.Select) and tree.args.get("distinct"):
        shown = {e.unalias() for e in tree.expressions} | {e.alias for e in tree.expressions if e.alias}
        facts.distinct_order = any(o.this not in shown and not (isinstance(o.this, exp.Column) and o.this.name in shown)
                                   for o in order.expressions)
    nulls = _dialect(dialect).NULL_ORDERING
    keys = list(order.expressions)
    variants = []
    for desc in (False, True):
        # The dialect's own NULL placement, so no NULLS FIRST/LAST clause (MySQL has none) is printed.
        first = (nulls == "nulls_are_small") != desc if nulls != "nulls_are_last" else False
        extra = [exp.Ordered(this=exp.Literal.number(i), desc=desc or None, nulls_first=first) for i in range(1, width + 1)]
        tree.set("order", exp.Order(expressions=keys + extra))
        variants.append(generate(tree, copy=False))
    order.set("expressions", keys)
    tree.set("order", order)
    facts.tie_variants = (variants[0], variants[1])
