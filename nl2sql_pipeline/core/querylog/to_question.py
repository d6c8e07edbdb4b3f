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

from nl2sql_pipeline.core.metadata import SchemaMetadata
from nl2sql_pipeline.core.querylog.conditions import Unexpressible
from nl2sql_pipeline.core.querylog.to_ir import Converter, shape_problem
from nl2sql_pipeline.core.synthesis.render_sql import Renderer
from nl2sql_pipeline.core.synthesis.schema import topic_views
from nl2sql_pipeline.core.synthesis.text_en import English
from nl2sql_pipeline.core.synthesis.text_zh import Chinese
from nl2sql_pipeline.core.validation.syntax import sql_template


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
    work = tree.copy()
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
