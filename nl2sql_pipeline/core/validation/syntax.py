"""Layer 1 and the SQL-shape facts later steps need: tables, hardness (the template: core.sql_template)."""

from __future__ import annotations

from sqlglot import exp

from nl2sql_pipeline.core import hardness
from nl2sql_pipeline.core.execution import parse_query
from nl2sql_pipeline.core.samples import Hardness

__all__ = ["parse_query", "tables_used", "hardness_of"]


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
