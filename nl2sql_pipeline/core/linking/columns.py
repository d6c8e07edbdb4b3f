"""Wide tables shown in part: their key columns and the columns the question is about.

A 150-column ledger would take a prompt's whole budget; when linking selects tables, a table
whose schema costs more than `LinkConfig.wide_table_tokens` shows its primary and foreign key
columns, the columns whose names or comments (labels, legends) share words with the question or
hold a value it mentions, then further columns in table order while they fit. The prompt says
how many columns it left out, so the model knows the table has more.
"""

from __future__ import annotations

from nl2sql_pipeline.core.cards import TableCard, estimate_tokens, render_ddl
from nl2sql_pipeline.core.linking.words import words
from nl2sql_pipeline.core.schema.metadata import ForeignKey, TableInfo


def _line_costs(card: TableCard, fmt: str) -> tuple[int, list[int]]:
    """(cost of everything but the column lines, cost of each column line) of the rendered table."""
    lines = card.ddl.splitlines() if fmt == "ddl" else card.text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(("CREATE TABLE", "  columns:"))) + 1
    columns = lines[start:start + len(card.columns)]
    fixed = estimate_tokens("\n".join(lines[:start] + lines[start + len(card.columns):]))
    return fixed, [estimate_tokens(line) + 1 for line in columns]


def pick_columns(card: TableCard, question_words: set[str], hinted: set[str], max_tokens: int, fmt: str) -> list[str]:
    """The columns of a wide table to show, in table order, within about `max_tokens`."""
    fixed, costs = _line_costs(card, fmt)
    keys = {c for link in card.links if link.direction == "out" for c in link.columns}
    keys |= {c.name for c in card.columns if c.primary_key}

    def relevance(i: int) -> tuple[int, int]:
        col = card.columns[i]
        shared = len(question_words & set(words(col.name) + words(col.comment)))
        return (-(col.name in keys) * 100 - (col.name.lower() in hinted) * 10 - shared, i)

    ranked = sorted(range(len(card.columns)), key=relevance)
    chosen: set[int] = set()
    spent = fixed
    for i in ranked:
        is_key = card.columns[i].name in keys
        if is_key or spent + costs[i] <= max_tokens:
            chosen.add(i)
            spent += costs[i]
    return [card.columns[i].name for i in sorted(chosen)]


def render_part(card: TableCard, columns: list[str], fmt: str, dialect: str) -> str:
    """The table's DDL (or card) with only `columns`, and a note of how many were left out."""
    keep = set(columns)
    hidden = len(card.columns) - len(keep)
    note = f"\n-- ({hidden} more columns of {card.table} not shown)" if hidden else ""
    if fmt == "ddl":
        table = TableInfo(
            name=card.table, comment=card.comment, columns=[c for c in card.columns if c.name in keep],
            primary_key=[c.name for c in card.columns if c.primary_key and c.name in keep],
            foreign_keys=[ForeignKey(columns=link.columns, ref_table=link.other_table, ref_columns=link.other_columns)
                          for link in card.links if link.direction == "out" and set(link.columns) <= keep],
        )
        return render_ddl(table, dialect) + note
    lines = card.text.splitlines()
    start = lines.index("  columns:") + 1
    shown = [line for line, col in zip(lines[start:start + len(card.columns)], card.columns) if col.name in keep]
    return "\n".join(lines[:start] + shown + lines[start + len(card.columns):]) + note
