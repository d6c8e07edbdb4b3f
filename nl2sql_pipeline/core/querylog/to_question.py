"""The offline question for a logged query: parse it into the synthesizer's IR and let the
synthesizer's own writers (text_zh / text_en) phrase it.

The IR is rendered back to SQL with the synthesizer's renderer and compared with the statement
(both canonicalized: aliases of the select list, quoting, case, INNER, operand order in ON and
NULLS placement do not count). A statement the IR does not reproduce exactly gets no question;
its shape is reported instead.
"""

from __future__ import annotations

import hashlib
import random

from sqlglot import exp

from nl2sql_pipeline.core.querylog.conditions import Unexpressible
from nl2sql_pipeline.core.querylog.to_ir import Converter, shape_problem
from nl2sql_pipeline.core.schema.metadata import SchemaMetadata
from nl2sql_pipeline.core.sql_template import sql_template
from nl2sql_pipeline.core.synthesis.render_sql import Renderer
from nl2sql_pipeline.core.synthesis.schema import topic_views
from nl2sql_pipeline.core.synthesis.text_en import English
from nl2sql_pipeline.core.synthesis.text_zh import Chinese


_DATE_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.DATETIME, exp.DataType.Type.TIMESTAMP,
               exp.DataType.Type.TIMESTAMPTZ}


def _sqlite_strings(tree: exp.Expression, meta: SchemaMetadata) -> None:
    """SQLite reads a "double-quoted" name that is no column as a string (Spider's gold SQL does this)."""
    tables = {t.name.lower(): t for t in meta.tables}
    used = [tables[t.name.lower()] for t in tree.find_all(exp.Table) if t.name.lower() in tables]
    names = {c.name.lower() for t in used for c in t.columns}
    for col in list(tree.find_all(exp.Column)):
        if not col.table and col.this.args.get("quoted") and col.name.lower() not in names:
            col.replace(exp.Literal.string(col.name))


def standardize(tree: exp.Expression, meta: SchemaMetadata, dialect: str) -> exp.Expression:
    """Spellings that say the same thing, made one (in place): `ORDER BY 1` / `GROUP BY 1` name the
    select item, COUNT(1) is COUNT(*), `DATE '2024-01-01'` is the date, a schema prefix is dropped,
    explicit ASC is the default, SQLite's double-quoted strings are strings."""
    if dialect == "sqlite":
        _sqlite_strings(tree, meta)
    for select in list(tree.find_all(exp.Select)):
        items = [e.this if isinstance(e, exp.Alias) else e for e in select.expressions]
        for clause in ("order", "group"):
            part = select.args.get(clause)
            for node in list(part.expressions) if part is not None else []:
                target = node.this if isinstance(node, exp.Ordered) else node
                if isinstance(target, exp.Literal) and not target.is_string and target.this.isdigit() \
                        and 1 <= int(target.this) <= len(items):
                    target.replace(items[int(target.this) - 1].copy())
    for node in list(tree.walk()):
        if isinstance(node, exp.Ordered) and node.args.get("desc") is False:
            node.set("desc", None)
        elif isinstance(node, exp.Count) and isinstance(node.this, exp.Literal) and node.this.this == "1":
            node.set("this", exp.Star())
        elif isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string \
                and node.to.this in _DATE_TYPES:
            node.replace(node.this.copy())
        elif isinstance(node, exp.Table):
            node.set("db", None)
            node.set("catalog", None)
    return tree


def _canonical(tree: exp.Expression, dialect: str) -> str:
    tree = tree.copy()
    for select in tree.find_all(exp.Select):
        aliases = {e.alias.lower(): e.this for e in select.expressions if isinstance(e, exp.Alias)}
        for clause in ("order", "having", "group"):
            part = select.args.get(clause)
            for col in list(part.find_all(exp.Column)) if part is not None else []:
                if not col.table and col.name.lower() in aliases:
                    col.replace(aliases[col.name.lower()].copy())
        select.set("expressions", [e.this if isinstance(e, exp.Alias) else e for e in select.expressions])
    for node in list(tree.walk()):
        if isinstance(node, exp.Ordered):
            node.set("nulls_first", None)
        elif isinstance(node, exp.Join):
            node.set("kind", None)
            on = node.args.get("on")
            for eq in list(on.find_all(exp.EQ)) if on is not None else []:
                a, b = sorted((eq.this, eq.expression), key=lambda x: x.sql())
                eq.set("this", a.copy())
                eq.set("expression", b.copy())
        elif isinstance(node, exp.Year):
            node.replace(exp.Extract(this=exp.var("YEAR"), expression=node.this.copy()))
        elif isinstance(node, exp.Paren) and isinstance(node.parent, exp.Where):
            node.replace(node.this.copy())
    for ident in tree.find_all(exp.Identifier):  # after the rewrites above, which copy nodes
        ident.set("quoted", False)
    text = tree.sql(dialect=dialect, normalize=True, comments=False)
    return text + " | " + sql_template(tree, dialect)


def offline_question(tree: exp.Expression, meta: SchemaMetadata, dialect: str, language: str) -> tuple[str | None, str | None]:
    """(question, None) for a shape the IR covers exactly, else (None, the shape it cannot express)."""
    if problem := shape_problem(tree):
        return None, problem
    work = standardize(tree.copy(), meta, dialect)
    names = list(dict.fromkeys(t.name for t in work.find_all(exp.Table) if t.name))
    known = {t.name.lower(): t.name for t in meta.tables}
    if any(n.lower() not in known for n in names):
        return None, "table outside the schema"
    views = topic_views(meta, [known[n.lower()] for n in names], language)
    try:
        ir = Converter(views).tree(work)
    except Unexpressible as err:
        return None, str(err)
    rendered = Renderer(dialect).tree(ir)
    if _canonical(rendered, dialect) != _canonical(work, dialect):
        return None, "the IR does not reproduce it exactly"
    seed = hashlib.sha256(sql_template(tree, dialect).encode()).hexdigest()
    writer = (Chinese if language == "zh" else English)(views, random.Random(seed))
    return writer.tree(ir), None
