"""Layer 1 and the SQL-shape facts later steps need: template, tables, hardness."""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from nl2sql_pipeline.core import hardness
from nl2sql_pipeline.core.execution import parse_query
from nl2sql_pipeline.core.samples import Hardness

__all__ = ["parse_query", "sql_template", "template_and_literals", "tables_used", "hardness_of"]


def sql_template(tree: exp.Expression, dialect: str) -> str:
    """The query with every literal masked as `?`, identifiers and keywords case-normalized.

    >>> import sqlglot
    >>> sql_template(sqlglot.parse_one("select Name from singer where age > 30 limit 1"), "sqlite")
    'SELECT name FROM singer WHERE age > ? LIMIT ?'
    """
    return template_and_literals(tree.copy(), dialect)[0]


def template_and_literals(tree: exp.Expression, dialect: str) -> tuple[str, list[str]]:
    """(template, masked literal values in order) of a tree it consumes: literals are masked in
    place and the SQL generated without sqlglot's defensive deep copy (copying dominated the
    validation time). Template plus literals identify the query up to formatting and case."""
    literals = []
    parents: dict[int, tuple[exp.Expression, set[str]]] = {}
    for literal in tree.find_all(exp.Literal):
        literals.append(("'" if literal.is_string else "") + str(literal.this))
        parent = literal.parent
        if parent is not None:
            parents.setdefault(id(parent), (parent, set()))[1].add(literal.arg_key)
    # One rebuild per (parent, argument): replacing literals one by one was quadratic in the
    # length of a list argument (a 10,000-item IN list took 10 s, 40,000 over 3 minutes).
    for parent, keys in parents.values():
        for key in keys:
            value = parent.args.get(key)
            if isinstance(value, list):
                parent.set(key, [exp.Placeholder() if isinstance(v, exp.Literal) else v for v in value])
            elif isinstance(value, exp.Literal):
                parent.set(key, exp.Placeholder())
    if isinstance(tree, exp.Literal):
        tree = exp.Placeholder()
    return _dialect(dialect).generate(tree, copy=False, normalize=True, comments=False), literals


@lru_cache(maxsize=32)
def _dialect(name: str) -> Dialect:
    return Dialect.get_or_raise(name)


def tables_used(tree: exp.Expression, known: dict[str, str]) -> list[str]:
    """Database tables the query reads, spelled as the metadata does (lower-case name -> name),
    in first-use order; CTE names and unknown names are left out."""
    names = (known.get(t.name.lower()) for t in tree.find_all(exp.Table) if t.name)
    return list(dict.fromkeys(n for n in names if n))


def hardness_of(tree: exp.Expression) -> Hardness | None:
    try:
        return hardness.hardness_counts(tree).level
    except Exception:  # a shape Spider's rules do not cover: no label rather than a wrong one
        return None
