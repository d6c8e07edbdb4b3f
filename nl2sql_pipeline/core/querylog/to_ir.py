"""Logged SQL -> the synthesizer's IR (core.synthesis.ir), for the shapes it can represent.

The converter accepts only what the IR says exactly: one base table with inner FK-style joins,
plain columns, COUNT/SUM/AVG/MIN/MAX, the year of a date, AND-only or OR-only filters on literal
values, IN/NOT IN subqueries over an FK, comparisons with a whole-table aggregate, GROUP BY with
a count threshold, one ORDER BY key, LIMIT, and UNION/INTERSECT/EXCEPT of two filters on one
table; every joined table must give the question a column, a filter or what is counted (or
link such tables). Anything else raises `Unexpressible` naming the shape (a CTE, a window function, CASE,
arithmetic, an outer join, ...): the question is never guessed.

While converting, the copy of the statement it walks is brought into the IR's spelling (join
tables aliased, columns qualified), so the caller can compare it with the IR rendered back to SQL.
"""

from __future__ import annotations

from collections import Counter

from sqlglot import exp

from nl2sql_pipeline.core.querylog.conditions import ConditionConverter, Unexpressible

from nl2sql_pipeline.core.synthesis.ir import Agg, Col, Compound, Item, Join, Query, Tree, YearOf
from nl2sql_pipeline.core.synthesis.schema import Column, JoinStep, TableView

_AGGS = {exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max"}
_SETS = {exp.Union: "union", exp.Intersect: "intersect", exp.Except: "except"}
# Shapes named for the coverage report, checked before converting.
_SHAPES: tuple[tuple[type[exp.Expression], str], ...] = (
    (exp.With, "CTE (WITH)"), (exp.Window, "window function"), (exp.Case, "CASE expression"),
    (exp.If, "conditional expression"), (exp.Exists, "EXISTS subquery"), (exp.Add, "arithmetic"),
    (exp.Sub, "arithmetic"), (exp.Mul, "arithmetic"), (exp.Div, "arithmetic"), (exp.Coalesce, "COALESCE"),
    (exp.Values, "VALUES list"), (exp.Lateral, "LATERAL"), (exp.Unnest, "UNNEST"),
)


def shape_problem(tree: exp.Expression) -> str | None:
    for node in tree.walk():
        for cls, name in _SHAPES:
            if isinstance(node, cls):
                return name
    return None




class Converter(ConditionConverter):
    """One statement's conversion; `views` covers every table it reads (core.synthesis.schema)."""

    def __init__(self, views: dict[str, TableView]) -> None:
        self.views = views
        self.names = {n.lower(): n for n in views}

    def tree(self, node: exp.Expression) -> Tree:
        if problem := shape_problem(node):
            raise Unexpressible(problem)
        if isinstance(node, exp.Subquery):
            node = node.unnest()
        if type(node) in _SETS:
            return self._compound(node)
        if not isinstance(node, exp.Select):
            raise Unexpressible(f"{node.key.upper()} statement")
        return self.query(node)

    def _compound(self, node: exp.SetOperation) -> Compound:
        if not node.args.get("distinct"):
            raise Unexpressible("UNION ALL (keeps duplicates)")
        left, right = node.left, node.right
        if not isinstance(left, exp.Select) or not isinstance(right, exp.Select) or node.args.get("order") or node.args.get("limit"):
            raise Unexpressible("set operation of more than two plain queries")
        lq, rq = self.query(left), self.query(right)
        if (lq.table != rq.table or lq.select != rq.select or lq.joins != rq.joins or not lq.where or not rq.where
                or lq.group or rq.group or lq.order or rq.order or lq.limit is not None or rq.limit is not None):
            raise Unexpressible("set operation whose sides differ in more than their filters")
        return Compound(_SETS[type(node)], lq, rq)

    # --- one SELECT ---------------------------------------------------------------------

    def _table(self, node: exp.Expression) -> str:
        if not isinstance(node, exp.Table) or isinstance(node.this, exp.Func):
            raise Unexpressible("derived table or table function in FROM")
        name = self.names.get(node.name.lower())
        if name is None:
            raise Unexpressible(f"table outside the schema's usable tables ({node.name})")
        return name

    def query(self, sel: exp.Select) -> Query:
        if sel.args.get("with"):
            raise Unexpressible("CTE (WITH)")
        for arg, what in (("offset", "OFFSET"), ("qualify", "QUALIFY"), ("windows", "WINDOW clause")):
            if sel.args.get(arg):
                raise Unexpressible(what)
        distinct = sel.args.get("distinct")
        if distinct is not None and distinct.args.get("on"):
            raise Unexpressible("DISTINCT ON")
        from_ = sel.args.get("from_")
        if from_ is None:
            raise Unexpressible("query without FROM")
        base_node = from_.this
        base = self._table(base_node)
        joins = sel.args.get("joins") or []
        if joins and not base_node.alias:
            base_node.set("alias", exp.TableAlias(this=exp.to_identifier(base_node.name)))
        alias = base_node.alias or None
        self.sources = {(alias or base).lower(): (base, alias)}
        q = Query(table=base, entity=self.views[base].label, select=[], alias=alias, distinct=distinct is not None)
        for j in joins:
            q.joins.append(self._join(j))
        self.q = q
        self.select_aliases: dict[str, Item] = {}
        for e in sel.expressions:
            item = self.item(e.this if isinstance(e, exp.Alias) else e)
            if isinstance(e, exp.Alias):
                self.select_aliases[e.alias.lower()] = item
            q.select.append(item)
        where = sel.args.get("where")
        if where is not None:
            q.where, q.conj = self._conditions(where.this)
        group = sel.args.get("group")
        if group is not None:
            if group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets"):
                raise Unexpressible("ROLLUP / CUBE / GROUPING SETS")
            q.group = [self.item(g) for g in group.expressions]
            if any(isinstance(g, Agg) for g in q.group):
                raise Unexpressible("GROUP BY an aggregate")
        having = sel.args.get("having")
        if having is not None:
            q.having = self._having(having.this, q)
        order = sel.args.get("order")
        if order is not None:
            if len(order.expressions) > 2:
                raise Unexpressible("several ORDER BY keys")
            q.order = [(self.item(o.this, order_by=True), bool(o.args.get("desc"))) for o in order.expressions]
            if len(q.order) == 2 and not isinstance(q.order[1][0], Col):
                raise Unexpressible("several ORDER BY keys")  # the writers state a second key as a tie-breaker column
        limit = sel.args.get("limit")
        if limit is not None:
            value = limit.expression
            if not isinstance(value, exp.Literal) or value.is_string or not value.this.isdigit():
                raise Unexpressible("LIMIT that is not a number")
            q.limit = int(value.this)
        if q.joins:
            q.counted, counted_alias = self._counted(q)
            self._joins_mentioned(q, counted_alias)
        return q

    def _join(self, j: exp.Join) -> Join:
        if j.side or (j.kind and j.kind.upper() != "INNER") or j.args.get("using") or j.args.get("method"):
            raise Unexpressible("outer, cross, natural or USING join")
        right = self._table(j.this)
        if not j.this.alias:
            j.this.set("alias", exp.TableAlias(this=exp.to_identifier(j.this.name)))
        right_alias = j.this.alias
        if right_alias.lower() in self.sources:
            raise Unexpressible("a table alias used twice")
        on = j.args.get("on")
        parts = list(on.flatten()) if isinstance(on, exp.And) else [on] if on is not None else []
        if not parts or not all(isinstance(p, exp.EQ) and all(isinstance(s, exp.Column) for s in (p.this, p.expression)) for p in parts):
            raise Unexpressible("join condition other than equal columns")
        self.sources[right_alias.lower()] = (right, right_alias)
        left_alias, pairs = None, []
        for p in parts:
            a, b = p.this, p.expression
            for col in (a, b):
                if not col.table:
                    raise Unexpressible("join condition with unqualified columns")
            if b.table.lower() != right_alias.lower():
                a, b = b, a
            if b.table.lower() != right_alias.lower() or a.table.lower() not in self.sources or a.table.lower() == right_alias.lower():
                raise Unexpressible("join condition that does not link the new table to an earlier one")
            if left_alias not in (None, a.table.lower()):
                raise Unexpressible("join linked to two earlier tables")
            left_alias = a.table.lower()
            pairs.append((self._column(a).column.name, self._column(b).column.name))
        left_table, left_name = self.sources[left_alias]
        return Join(JoinStep(left_table, right, tuple(pairs)), left_name or left_table, right_alias)

    def _counted(self, q: Query) -> tuple[str, str]:
        """What one row of the FROM clause is (as the grammar decides it), and that table's alias."""
        counted, alias = self.views[q.table], q.alias or q.table
        for j in q.joins:
            view = self.views[j.step.right]
            if tuple(b for _, b in j.step.pairs) != view.primary_key or not view.primary_key:
                counted, alias = view, j.right_alias
        return counted.label, alias

    @staticmethod
    def _joins_mentioned(q: Query, counted_alias: str) -> None:
        """Every joined table gives the question a column, a filter or what is counted, or links
        such tables: a join the question never mentions would still filter or multiply rows."""
        items = [*q.select, *q.group, *(it for it, _ in q.order), *(c.left for c in q.where)]
        used = {(q.alias or q.table).lower()}
        for it in items:
            col = it if isinstance(it, Col) else getattr(it, "arg", None)
            if isinstance(col, Col) and col.alias:
                used.add(col.alias.lower())
            if isinstance(it, Agg) and it.arg is None:
                used.add(counted_alias.lower())
        if q.having is not None:
            used.add(counted_alias.lower())
        degree: Counter = Counter()
        for j in q.joins:  # the joins form a tree; an unused table at its edge is mentioned by nothing
            degree.update((j.left_alias.lower(), j.right_alias.lower()))
        if any(d == 1 and alias not in used for alias, d in degree.items()):
            raise Unexpressible("a joined table the question would not mention")

    # --- items and conditions -----------------------------------------------------------

    def _column(self, col: exp.Column) -> Col:
        if isinstance(col.this, exp.Star):
            raise Unexpressible("SELECT *")
        if col.args.get("db") or col.args.get("catalog"):
            raise Unexpressible("schema-qualified column")
        if col.table:
            found = self.sources.get(col.table.lower())
            if found is None:
                raise Unexpressible("column of an outer query (correlated subquery)")
            candidates = [found]
        else:
            candidates = [s for s in self.sources.values() if self._find(s[0], col.name)]
        if len(candidates) != 1:
            raise Unexpressible("ambiguous or unknown column")
        table, alias = candidates[0]
        column = self._find(table, col.name)
        if column is None:
            raise Unexpressible("column of an unsupported type or unknown")
        qualifier = alias if alias and (len(self.sources) > 1 or col.table) else None
        if qualifier and not col.table:
            col.set("table", exp.to_identifier(qualifier))
        return Col(column, qualifier)

    def _find(self, table: str, name: str) -> Column | None:
        return next((c for c in self.views[table].columns if c.name.lower() == name.lower()), None)

    def item(self, e: exp.Expression, order_by: bool = False) -> Item:
        if isinstance(e, exp.Column):
            if order_by and not e.table and e.name.lower() in self.select_aliases:
                return self.select_aliases[e.name.lower()]
            return self._column(e)
        if isinstance(e, exp.Paren):
            return self.item(e.this, order_by)
        if type(e) in _AGGS:
            func, arg = _AGGS[type(e)], e.this
            if isinstance(arg, exp.Star):
                if func != "count":
                    raise Unexpressible(f"{func.upper()}(*)")
                return Agg("count")
            distinct = isinstance(arg, exp.Distinct)
            if distinct:
                if func != "count" or len(arg.expressions) != 1:
                    raise Unexpressible(f"{func.upper()}(DISTINCT ...)")
                arg = arg.expressions[0]
            if not isinstance(arg, exp.Column):
                raise Unexpressible("aggregate of an expression")
            return Agg(func, self._column(arg), distinct)
        if isinstance(e, exp.Year) and isinstance(e.this, exp.Column):
            return YearOf(self._column(e.this))
        if isinstance(e, exp.Extract) and e.this.name.upper() == "YEAR" and isinstance(e.expression, exp.Column):
            return YearOf(self._column(e.expression))
        if (isinstance(e, exp.Cast) and isinstance(e.this, exp.TimeToStr) and e.this.args.get("format")
                and e.this.args["format"].this == "%Y"):
            inner = e.this.this.this if isinstance(e.this.this, exp.TsOrDsToTimestamp) else e.this.this
            if isinstance(inner, exp.Column):
                return YearOf(self._column(inner))
        if isinstance(e, exp.Star):
            raise Unexpressible("SELECT *")
        if isinstance(e, exp.Literal):
            raise Unexpressible("constant in the select list")
        if isinstance(e, exp.Func):
            raise Unexpressible(f"function {e.sql_name() if not isinstance(e, exp.Anonymous) else e.name.upper()}()")
        raise Unexpressible(f"{e.key} expression")

    def _sub(self, node: exp.Expression) -> Query:
        body = node.unnest() if isinstance(node, exp.Subquery) else node
        if not isinstance(body, exp.Select):
            raise Unexpressible("subquery that is not a plain SELECT")
        saved = (self.sources, self.q, self.select_aliases)
        try:
            return self.query(body)
        finally:
            self.sources, self.q, self.select_aliases = saved
