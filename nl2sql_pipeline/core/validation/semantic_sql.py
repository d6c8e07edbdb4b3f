"""SQL-side facts of the semantic layer: which table each column comes from, arithmetic and
order comparisons on columns, joined tables that contribute nothing, and the rewritten queries
that test determinism (ORDER BY extended by every output column) and unexpressed joins (the
query without them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from nl2sql_pipeline.core.metadata import SchemaMetadata

_ARITH_AGGS = (exp.Sum, exp.Avg, exp.Min, exp.Max)
_ORDER_CMP = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
_ARITH = (exp.Add, exp.Sub, exp.Mul, exp.Div)


@dataclass
class ColumnUse:
    table: str  # the metadata's spelling
    column: str
    node: exp.Column


@dataclass
class SqlFacts:
    columns: list[ColumnUse] = field(default_factory=list)
    misuse: list[tuple[str, ColumnUse]] = field(default_factory=list)  # (what, column)
    equalities: list[tuple[ColumnUse, list[str]]] = field(default_factory=list)  # col = 'x' / IN (...) literals
    unused_joins: list[str] = field(default_factory=list)  # tables joined that no clause uses
    without_unused: str | None = None  # the query without those joins
    tie_variants: tuple[str, str] | None = None  # ORDER BY extended ascending / descending
    unlimited: str | None = None  # LIMIT without ORDER BY: the query without its LIMIT
    limit: int | None = None


def _sources(select: exp.Select, meta: SchemaMetadata) -> dict[str, str]:
    """alias (or name) lower-cased -> table name, for the tables in this SELECT's FROM and JOINs."""
    out: dict[str, str] = {}
    tables = [select.args.get("from_") or select.args.get("from")] + list(select.args.get("joins") or [])
    for node in tables:
        table = node.this if node is not None else None
        if isinstance(table, exp.Table) and table.name and (info := meta.table(table.name)):
            out[(table.alias_or_name or table.name).lower()] = info.name
    return out


def _resolve(col: exp.Column, meta: SchemaMetadata, cache: dict[int, dict[str, str]]) -> ColumnUse | None:
    select = col.find_ancestor(exp.Select)
    while select is not None:
        sources = cache.get(id(select))
        if sources is None:
            sources = cache[id(select)] = _sources(select, meta)
        if col.table:
            if (table := sources.get(col.table.lower())) is not None:
                return ColumnUse(table, col.name, col)
        else:
            for table in sources.values():
                info = meta.table(table)
                if info is not None and info.column(col.name) is not None:
                    return ColumnUse(table, info.column(col.name).name, col)
        select = select.parent.find_ancestor(exp.Select) if select.parent else None
    return None


def _direct(node: exp.Expression) -> exp.Column | None:
    """The column an expression is, looking through parentheses and casts."""
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    return node if isinstance(node, exp.Column) else None


def analyse_sql(tree: exp.Expression, meta: SchemaMetadata, dialect: str) -> SqlFacts:
    """Everything the semantic checks need from one parsed query (the tree is not changed)."""
    facts = SqlFacts()
    cache: dict[int, dict[str, str]] = {}
    uses: dict[int, ColumnUse] = {}
    for col in tree.find_all(exp.Column):
        if isinstance(col.this, exp.Star):
            continue
        use = _resolve(col, meta, cache)
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
    _joins(tree, meta, uses, facts, dialect)
    _determinism(tree, facts, dialect)
    return facts


def _joins(tree: exp.Expression, meta: SchemaMetadata, uses: dict[int, ColumnUse], facts: SqlFacts,
           dialect: str) -> None:
    """Joined tables of the top-level SELECT(s) that no clause but their own ON uses, leaves first
    (a table that only links two used tables is a bridge and stays)."""
    selects = [tree] if isinstance(tree, exp.Select) else list(tree.find_all(exp.Select)) if isinstance(
        tree, exp.SetOperation) else []
    unused_all: list[str] = []
    rewritten = tree.copy()
    targets = [rewritten] if isinstance(rewritten, exp.Select) else [
        s for s in rewritten.find_all(exp.Select) if s.parent is not None and isinstance(s.parent, exp.SetOperation)]
    for select, target in zip([s for s in selects if s is tree or isinstance(s.parent, exp.SetOperation)], targets):
        joins = list(select.args.get("joins") or [])
        if not joins or any(j.args.get("kind") in ("LEFT", "RIGHT", "FULL") or j.args.get("side") for j in joins):
            continue
        aliases = [(j.this.alias_or_name or j.this.name).lower() for j in joins if isinstance(j.this, exp.Table)]
        base = select.args.get("from_") or select.args.get("from")
        if len(aliases) != len(joins) or base is None or not isinstance(base.this, exp.Table):
            continue
        everyone = [(base.this.alias_or_name or base.this.name).lower()] + aliases
        used = set()
        edges: dict[str, set[str]] = {a: set() for a in everyone}
        for col in select.find_all(exp.Column):
            if col.find_ancestor(exp.Select) is not select:
                continue  # a subquery's own columns
            join = col.find_ancestor(exp.Join)
            owner = (col.table or "").lower()
            if join is not None and join.parent is select:
                continue
            if owner in edges:
                used.add(owner)
            elif not owner and id(col) in uses:
                used.update(a for a in everyone if _table_of(select, a, meta) == uses[id(col)].table)
        for j, alias in zip(joins, aliases):
            for col in (j.args.get("on") or exp.Null()).find_all(exp.Column):
                other = (col.table or "").lower()
                if other in edges and other != alias:
                    edges[alias].add(other)
                    edges[other].add(alias)
        if any(isinstance(c.this, exp.Star) and c.find_ancestor(exp.Select) is select for c in select.find_all(exp.Count)):
            used.add(everyone[0])  # COUNT(*) counts the rows of the table the query is about
        if not used:
            continue
        removed = _prune(edges, used)
        for alias in removed:
            unused_all.append(_table_of(select, alias, meta) or alias)
        if removed:
            _remove(target, removed, base.this)
    if unused_all:
        facts.unused_joins = unused_all
        facts.without_unused = rewritten.sql(dialect=dialect)


def _table_of(select: exp.Select, alias: str, meta: SchemaMetadata) -> str | None:
    return _sources(select, meta).get(alias)


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


def _determinism(tree: exp.Expression, facts: SqlFacts, dialect: str) -> None:
    order = tree.args.get("order")
    limit = tree.args.get("limit")
    width = len(tree.expressions) if isinstance(tree, exp.Select) else len(tree.selects) if isinstance(
        tree, exp.SetOperation) else 0
    if limit is not None and isinstance(limit.expression, exp.Literal) and limit.expression.is_int:
        facts.limit = int(limit.expression.this)
    if order is None and limit is not None and facts.limit is not None:
        unlimited = tree.copy()
        unlimited.set("limit", None)
        facts.unlimited = unlimited.sql(dialect=dialect)
    if order is None or not width:
        return
    variants = []
    nulls = Dialect.get_or_raise(dialect).NULL_ORDERING
    for desc in (False, True):
        copy = tree.copy()
        keys = list(copy.args["order"].expressions)
        # The dialect's own NULL placement, so no NULLS FIRST/LAST clause (MySQL has none) is printed.
        first = (nulls == "nulls_are_small") != desc if nulls != "nulls_are_last" else False
        keys += [exp.Ordered(this=exp.Literal.number(i), desc=desc or None, nulls_first=first) for i in range(1, width + 1)]
        copy.set("order", exp.Order(expressions=keys))
        variants.append(copy.sql(dialect=dialect))
    facts.tie_variants = (variants[0], variants[1])
